// DnsProxy over real sockets on loopback: a UDP socket and a TCP server stand in for the in-pod
// :15053 listeners (wired exactly as the Redirector wires them), and a real DNS server in the test
// is the upstream. Mesh names come from a Snapshot; the rest is forwarded, failing over between
// upstreams, retried over TCP when truncated, and SERVFAIL when no upstream answers. Garbage costs
// the garbage only.
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { once } from "node:events";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import {
  decode,
  encode,
  RECURSION_DESIRED,
  TRUNCATED_RESPONSE,
  type Answer,
  type DecodedPacket,
  type Packet,
} from "dns-packet";
import { applyDelta, emptySnapshot, type Snapshot } from "@weft/state";
import { DnsProxy, type DnsProxyStats, type PodRecord, type Upstream } from "@weft/ztunnel";

const POD: PodRecord = {
  version: 1,
  uid: "uid-client",
  name: "client",
  namespace: "shop",
  netnsPath: "/run/netns/none",
  cgroupPath: "/sys/fs/cgroup/none",
  ips: ["10.244.0.5"],
  netnsCookie: "1",
  netnsIno: 1,
  enrolledAt: "2026-01-01T00:00:00.000Z",
};

const MESH: Snapshot = applyDelta(emptySnapshot(), {
  upsert: [
    {
      kind: "service",
      service: {
        name: "echo",
        namespace: "shop",
        hostname: "echo.shop.svc.cluster.local",
        vips: [{ network: "", address: "10.96.0.10" }],
        ports: [{ servicePort: 80, targetPort: 8080 }],
        subjectAltNames: [],
      },
    },
  ],
}).snapshot;

// 30 A records (dns-packet does not compress names: 31 bytes each) do not fit 512 bytes, and fit 1232.
const BIG_ANSWER_COUNT = 30;

/** A real DNS server (UDP + TCP on one port) with a few scripted names; logs what it was asked. */
class TestUpstream {
  readonly asked: { transport: "udp" | "tcp"; name: string; id: number }[] = [];
  private constructor(
    readonly udp: dgram.Socket,
    readonly tcp: net.Server,
    readonly answer: string,
  ) {}

  get endpoint(): Upstream {
    return { address: "127.0.0.1", port: this.udp.address().port };
  }

  static async start(answer: string): Promise<TestUpstream> {
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket("udp4");
      udp.bind(0, "127.0.0.1");
      await once(udp, "listening");
      const tcp = net.createServer();
      tcp.listen(udp.address().port, "127.0.0.1");
      try {
        await once(tcp, "listening");
      } catch (err) {
        udp.close();
        if (attempt < 5) continue; // the TCP port of that number was taken: pick another
        throw err;
      }
      const upstream = new TestUpstream(udp, tcp, answer);
      upstream.serve();
      return upstream;
    }
  }

  private reply(query: DecodedPacket, transport: "udp" | "tcp"): Buffer | undefined {
    const q = query.questions?.[0];
    if (q === undefined) return undefined;
    this.asked.push({ transport, name: q.name, id: query.id ?? 0 });
    const base: Packet = { type: "response", id: query.id ?? 0, flags: 0, questions: [q], answers: [] };
    if (q.name === "silent.example.org") return undefined;
    if (q.name === "big.example.org") {
      if (transport === "udp") return encode({ ...base, flags: TRUNCATED_RESPONSE });
      const answers: Answer[] = [];
      for (let i = 0; i < BIG_ANSWER_COUNT; i++) {
        answers.push({ type: "A", name: q.name, ttl: 60, data: `198.51.100.${i + 1}` });
      }
      return encode({ ...base, answers });
    }
    if (q.name === "gone.example.org") return encode({ ...base, flags: 3 /* NXDOMAIN */ });
    return encode({ ...base, answers: [{ type: "A", name: q.name, ttl: 60, data: this.answer }] });
  }

  private serve(): void {
    this.udp.on("message", (msg, from) => {
      const reply = this.reply(decode(msg), "udp");
      if (reply !== undefined) this.udp.send(reply, from.port, from.address);
    });
    this.tcp.on("connection", (socket) => {
      socket.on("error", () => {});
      let buffer = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        while (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
          const message = buffer.subarray(2, 2 + buffer.readUInt16BE(0));
          buffer = buffer.subarray(2 + message.length);
          const reply = this.reply(decode(message), "tcp");
          if (reply !== undefined) socket.write(frame(reply));
        }
      });
    });
  }

  async close(): Promise<void> {
    this.udp.close();
    await new Promise((resolve) => this.tcp.close(resolve));
  }
}

function frame(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

/** The in-pod listeners as the Redirector wires them, on loopback, serving one proxy. */
class FakePodListeners {
  private constructor(
    readonly udp: dgram.Socket,
    readonly tcp: net.Server,
  ) {}

  static async start(proxy: DnsProxy): Promise<FakePodListeners> {
    const udp = dgram.createSocket("udp4");
    const handlers = proxy.podHandlers();
    udp.on("message", (msg, from) =>
      handlers.dnsUdp(msg, { pod: POD, from, reply: (b) => udp.send(b, from.port, from.address) }),
    );
    udp.bind(0, "127.0.0.1");
    await once(udp, "listening");
    const tcp = net.createServer((s) => handlers.dnsTcp(s, { pod: POD }));
    tcp.listen(0, "127.0.0.1");
    await once(tcp, "listening");
    return new FakePodListeners(udp, tcp);
  }

  get udpPort(): number {
    return this.udp.address().port;
  }

  get tcpPort(): number {
    return (this.tcp.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    this.udp.close();
    await new Promise((resolve) => this.tcp.close(resolve));
  }
}

let nextId = 1;
function query(name: string, type: "A" | "AAAA" = "A", extra: Partial<Packet> = {}): Buffer {
  return encode({
    type: "query",
    id: nextId++,
    flags: RECURSION_DESIRED,
    questions: [{ type, name }],
    ...extra,
  });
}

/** Send raw bytes over UDP; the first reply, or undefined when none comes within `waitMs`. */
async function udpExchange(port: number, message: Buffer, waitMs = 3000): Promise<Buffer | undefined> {
  const socket = dgram.createSocket("udp4");
  try {
    socket.bind(0, "127.0.0.1");
    await once(socket, "listening");
    const reply = new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      socket.once("message", (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
    socket.send(message, port, "127.0.0.1");
    return await reply;
  } finally {
    socket.close();
  }
}

async function udpAsk(port: number, message: Buffer): Promise<DecodedPacket & { rcode?: string }> {
  const reply = await udpExchange(port, message);
  assert.ok(reply !== undefined, "the proxy replied");
  return decode(reply);
}

/** A TCP client that reads length-prefixed replies. */
class TcpClient {
  private buffer = Buffer.alloc(0);
  private readonly replies: Buffer[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 2 && this.buffer.length >= 2 + this.buffer.readUInt16BE(0)) {
        const length = this.buffer.readUInt16BE(0);
        this.replies.push(this.buffer.subarray(2, 2 + length));
        this.buffer = this.buffer.subarray(2 + length);
      }
      this.wake();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => socket.on("close", () => resolve()));
    socket.on("close", () => this.wake());
  }

  static async connect(port: number): Promise<TcpClient> {
    const socket = net.connect(port, "127.0.0.1");
    await once(socket, "connect");
    return new TcpClient(socket);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next `count` replies, decoded and sorted by id (pipelined replies may come in any order). */
  async read(count: number): Promise<(DecodedPacket & { rcode?: string })[]> {
    while (this.replies.length < count) {
      if (this.socket.destroyed) assert.fail(`connection closed after ${this.replies.length} replies`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.replies
      .splice(0, count)
      .map((r) => decode(r))
      .sort((x, y) => (x.id ?? 0) - (y.id ?? 0));
  }
}

const answersOf = (p: DecodedPacket): { name: string; type: string; data: unknown }[] =>
  (p.answers ?? []).map((x) => ({ name: x.name, type: x.type, data: "data" in x ? x.data : undefined }));

void describe("DnsProxy over loopback sockets", { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let second: TestUpstream;
  let deadPort: number;
  let proxy: DnsProxy;
  let listeners: FakePodListeners;
  const proxies: DnsProxy[] = [];
  const openListeners: FakePodListeners[] = [];

  async function startProxy(upstreams: Upstream[], extra: { tcpIdleTimeoutMs?: number } = {}) {
    const p = new DnsProxy({ snapshot: () => MESH, upstreams, upstreamTimeoutMs: 300, ...extra });
    proxies.push(p);
    const l = await FakePodListeners.start(p);
    openListeners.push(l);
    return { proxy: p, listeners: l };
  }

  before(async () => {
    upstream = await TestUpstream.start("192.0.2.1");
    second = await TestUpstream.start("192.0.2.2");
    // A port nobody listens on: an upstream that never answers.
    const probe = dgram.createSocket("udp4");
    probe.bind(0, "127.0.0.1");
    await once(probe, "listening");
    deadPort = probe.address().port;
    probe.close();
    ({ proxy, listeners } = await startProxy([upstream.endpoint]));
  });

  after(async () => {
    for (const p of proxies) p.close();
    for (const l of openListeners) await l.close();
    await upstream.close();
    await second.close();
  });

  const stats = (): DnsProxyStats => ({ ...proxy.stats });

  void it("answers a mesh name from the snapshot, authoritatively, TTL 30, without asking upstream", async () => {
    const asked = upstream.asked.length;
    const q = query("echo.shop.svc.cluster.local");
    const reply = await udpAsk(listeners.udpPort, q);
    assert.equal(reply.id, q.readUInt16BE(0));
    assert.equal(reply.rcode, "NOERROR");
    assert.equal(reply.flag_aa, true);
    assert.equal(reply.flag_rd, true);
    assert.deepEqual(reply.questions, [{ name: "echo.shop.svc.cluster.local", type: "A", class: "IN" }]);
    assert.deepEqual(answersOf(reply), [
      { name: "echo.shop.svc.cluster.local", type: "A", data: "10.96.0.10" },
    ]);
    const first = reply.answers?.[0];
    assert.equal(first !== undefined && "ttl" in first ? first.ttl : undefined, 30);
    assert.equal(upstream.asked.length, asked, "the upstream was not asked");
  });

  void it("answers the resolver's search expansion with CNAME + A; AAAA of it with NOERROR and nothing", async () => {
    const name = "echo.shop.svc.cluster.local.shop.svc.cluster.local";
    const a = await udpAsk(listeners.udpPort, query(name));
    assert.deepEqual(answersOf(a), [
      { name, type: "CNAME", data: "echo.shop.svc.cluster.local" },
      { name: "echo.shop.svc.cluster.local", type: "A", data: "10.96.0.10" },
    ]);
    const aaaa = await udpAsk(listeners.udpPort, query("echo", "AAAA"));
    assert.equal(aaaa.rcode, "NOERROR");
    assert.deepEqual(aaaa.answers, []);
    const below = await udpAsk(listeners.udpPort, query("x.echo.shop.svc.cluster.local"));
    assert.equal(below.rcode, "NXDOMAIN");
  });

  void it("keeps EDNS: a query with OPT gets an OPT back", async () => {
    const reply = await udpAsk(
      listeners.udpPort,
      query("echo", "A", { additionals: [{ type: "OPT", name: ".", udpPayloadSize: 4096 } as Answer] }),
    );
    assert.deepEqual(
      (reply.additionals ?? []).map((x) => x.type),
      ["OPT"],
    );
  });

  void it("forwards other names to the upstream with another id and relays the reply with the client's id", async () => {
    const before = stats();
    const q = query("www.example.org");
    const reply = await udpAsk(listeners.udpPort, q);
    assert.equal(reply.id, q.readUInt16BE(0));
    assert.deepEqual(answersOf(reply), [{ name: "www.example.org", type: "A", data: "192.0.2.1" }]);
    assert.deepEqual(upstream.asked.at(-1)?.name, "www.example.org");
    const nx = await udpAsk(listeners.udpPort, query("gone.example.org"));
    assert.equal(nx.rcode, "NXDOMAIN", "the upstream's rcode is relayed");
    assert.equal(proxy.stats.forwarded, before.forwarded + 2);
    assert.equal(proxy.stats.nxdomain, before.nxdomain, "an upstream NXDOMAIN is a forward, not ours");
  });

  void it("forwards non-A/AAAA types of mesh names (as Istio does)", async () => {
    const reply = await udpAsk(
      listeners.udpPort,
      encode({ type: "query", id: 77, flags: RECURSION_DESIRED, questions: [{ type: "TXT", name: "echo" }] }),
    );
    assert.equal(reply.id, 77);
    assert.equal(upstream.asked.at(-1)?.name, "echo");
  });

  void it("retries over TCP when the UDP reply is truncated; sends what fits the client's UDP limit", async () => {
    // EDNS 1232: the 40 records fetched over TCP fit, so the client gets them over UDP.
    const edns = await udpAsk(
      listeners.udpPort,
      query("big.example.org", "A", {
        additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232 } as Answer],
      }),
    );
    assert.equal(edns.flag_tc, false);
    assert.equal(edns.answers?.length, BIG_ANSWER_COUNT);
    assert.deepEqual(
      upstream.asked.slice(-2).map((x) => x.transport),
      ["udp", "tcp"],
    );
    // No EDNS (512 bytes): the client gets the truncated reply, and asks again over TCP.
    const classic = await udpAsk(listeners.udpPort, query("big.example.org"));
    assert.equal(classic.flag_tc, true);
    const tcp = await TcpClient.connect(listeners.tcpPort);
    try {
      tcp.socket.write(frame(query("big.example.org")));
      const [full] = await tcp.read(1);
      assert.equal(full?.flag_tc, false);
      assert.equal(full?.answers?.length, BIG_ANSWER_COUNT);
    } finally {
      tcp.socket.destroy();
    }
  });

  void it("fails over to the next upstream, and answers SERVFAIL when none replies", async () => {
    const { proxy: p, listeners: l } = await startProxy([
      { address: "127.0.0.1", port: deadPort },
      second.endpoint,
    ]);
    const ok = await udpAsk(l.udpPort, query("www.example.org"));
    assert.deepEqual(answersOf(ok), [{ name: "www.example.org", type: "A", data: "192.0.2.2" }]);

    const q = query("silent.example.org");
    const failed = await udpAsk(l.udpPort, q);
    assert.equal(failed.rcode, "SERVFAIL");
    assert.equal(failed.id, q.readUInt16BE(0));
    assert.deepEqual(
      failed.questions?.map((x) => x.name),
      ["silent.example.org"],
    );
    assert.equal(p.stats.failed, 1);
    assert.equal(p.stats.forwarded, 1);

    // Mesh names do not need an upstream at all.
    const { listeners: down } = await startProxy([{ address: "127.0.0.1", port: deadPort }]);
    assert.deepEqual(answersOf(await udpAsk(down.udpPort, query("echo"))), [
      { name: "echo", type: "A", data: "10.96.0.10" },
    ]);
    assert.equal((await udpAsk(down.udpPort, query("www.example.org"))).rcode, "SERVFAIL");
  });

  void it("TCP: several queries per connection, pipelined in one write and split across writes", async () => {
    const tcp = await TcpClient.connect(listeners.tcpPort);
    try {
      const q1 = query("echo");
      const q2 = query("www.example.org");
      const q3 = query("cart.billing");
      tcp.socket.write(Buffer.concat([frame(q1), frame(q2)]));
      const f3 = frame(q3);
      tcp.socket.write(f3.subarray(0, 1));
      await new Promise((resolve) => setImmediate(resolve));
      tcp.socket.write(f3.subarray(1, 9));
      await new Promise((resolve) => setImmediate(resolve));
      tcp.socket.write(f3.subarray(9));
      const [r1, r2, r3] = await tcp.read(3);
      assert.deepEqual(answersOf(r1!), [{ name: "echo", type: "A", data: "10.96.0.10" }]);
      assert.deepEqual(answersOf(r2!), [{ name: "www.example.org", type: "A", data: "192.0.2.1" }]);
      assert.equal(r3?.id, q3.readUInt16BE(0));
      assert.equal(r3?.rcode, "NOERROR");
    } finally {
      tcp.socket.destroy();
    }
  });

  void it("TCP: a burst beyond the in-flight limit in one write is answered in full", async () => {
    const tcp = await TcpClient.connect(listeners.tcpPort);
    try {
      const queries = Array.from({ length: 50 }, (_, i) => query(i % 2 === 0 ? "echo" : `n${i}.example.org`));
      tcp.socket.write(Buffer.concat(queries.map(frame)));
      const replies = await tcp.read(queries.length);
      assert.deepEqual(
        replies.map((r) => r.id),
        queries.map((q) => q.readUInt16BE(0)),
      );
      assert.ok(replies.every((r) => r.rcode === "NOERROR" && (r.answers ?? []).length === 1));
    } finally {
      tcp.socket.destroy();
    }
  });

  void it("TCP: a client that half-closes after its query still gets the reply", async () => {
    const tcp = await TcpClient.connect(listeners.tcpPort);
    tcp.socket.end(frame(query("www.example.org")));
    const [reply] = await tcp.read(1);
    assert.deepEqual(answersOf(reply!), [{ name: "www.example.org", type: "A", data: "192.0.2.1" }]);
    await tcp.closed;
  });

  void it("TCP: an idle connection is closed by the proxy", async () => {
    const { listeners: l } = await startProxy([upstream.endpoint], { tcpIdleTimeoutMs: 200 });
    const tcp = await TcpClient.connect(l.tcpPort);
    tcp.socket.write(frame(query("echo")));
    await tcp.read(1);
    await tcp.closed;
    assert.equal(tcp.socket.destroyed, true);
  });

  void it("malformed input: dropped or FORMERR/NOTIMP, counted, and the proxy keeps answering", async () => {
    const before = stats();
    // Shorter than a header: nothing to answer.
    assert.equal(await udpExchange(listeners.udpPort, Buffer.from([1, 2, 3, 4, 5]), 300), undefined);
    // A header claiming one question that is not there.
    const truncatedQuestion = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 0x65]);
    const formerr = await udpAsk(listeners.udpPort, truncatedQuestion);
    assert.equal(formerr.id, 0x1234);
    assert.equal(formerr.rcode, "FORMERR");
    // Two questions.
    const two = encode({
      type: "query",
      id: 99,
      questions: [
        { type: "A", name: "echo" },
        { type: "A", name: "cart.billing" },
      ],
    });
    assert.equal((await udpAsk(listeners.udpPort, two)).rcode, "FORMERR");
    // Not a QUERY (opcode STATUS).
    const status = Buffer.from(query("echo"));
    status.writeUInt16BE(status.readUInt16BE(2) | (2 << 11), 2);
    assert.equal((await udpAsk(listeners.udpPort, status)).rcode, "NOTIMP");
    // A response sent to the proxy is never answered.
    const response = encode({ type: "response", id: 5, questions: [{ type: "A", name: "echo" }] });
    assert.equal(await udpExchange(listeners.udpPort, response, 300), undefined);
    // TCP: a 3-byte message cannot be framed reliably: the proxy hangs up on that connection only.
    const bad = await TcpClient.connect(listeners.tcpPort);
    bad.socket.write(Buffer.from([0, 3, 1, 2, 3]));
    await bad.closed;
    assert.equal(proxy.stats.malformed, before.malformed + 6);

    // Still serving, over both transports.
    assert.deepEqual(answersOf(await udpAsk(listeners.udpPort, query("echo"))), [
      { name: "echo", type: "A", data: "10.96.0.10" },
    ]);
    const good = await TcpClient.connect(listeners.tcpPort);
    try {
      good.socket.write(frame(query("echo")));
      assert.equal((await good.read(1))[0]?.rcode, "NOERROR");
    } finally {
      good.socket.destroy();
    }
  });

  void it("close() ends client connections and in-flight exchanges; late queries get nothing", async () => {
    const { proxy: p, listeners: l } = await startProxy([upstream.endpoint]);
    const tcp = await TcpClient.connect(l.tcpPort);
    tcp.socket.write(frame(query("silent.example.org")));
    await new Promise((resolve) => setTimeout(resolve, 50));
    p.close();
    await tcp.closed;
    assert.equal(await udpExchange(l.udpPort, query("echo"), 300), undefined);
    assert.equal(p.stats.failed, 0, "a closed proxy does not count its own shutdown as failures");
  });
});
