// The DNS proxy end to end in a netns world (root): a Redirector with DNS capture serves an enrolled
// pod's UDP/53 with ztunnel's DnsProxy. An app in the pod asking any server for a mesh Service gets
// the VIP from the snapshot (and the next snapshot's VIP after a push); a name outside the mesh is
// forwarded from ztunnel's own process to a real DNS server (the testbed's dns-server app, in the
// node netns where ztunnel runs) and answered; every reply seems to come from the server the app
// asked. The in-pod :15053/tcp listener serves DNS over TCP the same way.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { decode, encode, RECURSION_DESIRED, type DecodedPacket } from "dns-packet";
import { StateStore, type Service } from "@weft/state";
import { appPath, createWorld, dnsQuery, rootOnly, sweepStale, type World } from "@weft/test";
import { DnsProxy, FAIL_CLOSED_HANDLERS, Redirector } from "@weft/ztunnel";
import { bpffsSnapshot, events, scratch } from "./redirect-support.js";

const NAMESPACE = "shop";
const MESH_NAME = `echo.${NAMESPACE}.svc.cluster.local`;
const UPSTREAM_ANSWER = "192.0.2.77";

function echoService(vips: string[]): Service {
  return {
    name: "echo",
    namespace: NAMESPACE,
    hostname: MESH_NAME,
    vips: vips.map((address) => ({ network: "", address })),
    ports: [{ servicePort: 80, targetPort: 8080 }],
    subjectAltNames: [],
  };
}

/** The dns-server app as ztunnel's upstream, in this (node) netns; resolves with its UDP port. */
async function startUpstream(): Promise<{ child: ChildProcess; port: number; stdout: string[] }> {
  const child = spawn(
    process.execPath,
    [appPath("dns-server"), "--port", "0", "--a", UPSTREAM_ANSWER, "--aaaa", "2001:db8::77"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const stdout: string[] = [];
  const lines = createInterface({ input: child.stdout });
  const listening = new Promise<number>((resolve, reject) => {
    lines.on("line", (line) => {
      stdout.push(line);
      if (line.includes('"event":"listening"')) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once("exit", (code) => reject(new Error(`dns-server exited (${code}) before listening`)));
  });
  return { child, port: await listening, stdout };
}

// Runs in the pod: one DNS-over-TCP exchange with argv host:port; prints the reply (hex) and the
// peer getpeername reports.
const TCP_CLIENT = `
const net = require("net");
const [host, port, query] = [process.argv[1], Number(process.argv[2]), Buffer.from(process.argv[3], "hex")];
const s = net.connect({ host, port });
let buf = Buffer.alloc(0);
s.on("connect", () => { const len = Buffer.alloc(2); len.writeUInt16BE(query.length); s.write(Buffer.concat([len, query])); });
s.on("data", (d) => {
  buf = Buffer.concat([buf, d]);
  if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
    const reply = buf.subarray(2, 2 + buf.readUInt16BE(0)).toString("hex");
    process.stdout.write(JSON.stringify({ reply, peer: { address: s.remoteAddress, port: s.remotePort } }) + "\\n");
    s.destroy();
  }
});
s.on("error", (e) => { process.stdout.write(JSON.stringify({ error: e.code || e.message }) + "\\n"); });
setTimeout(() => { process.stdout.write(JSON.stringify({ error: "timeout" }) + "\\n"); process.exit(0); }, 5000).unref();
`;

void describe("DNS proxy: capture + DnsProxy in a netns world", { ...rootOnly(), timeout: 90_000 }, () => {
  let world: World | undefined;
  let redirector: Redirector | undefined;
  let proxy: DnsProxy | undefined;
  let upstream: Awaited<ReturnType<typeof startUpstream>> | undefined;
  const store = new StateStore();
  const dirs = scratch();
  let bpffsBefore: string[] = [];
  const w = (): World => world ?? assert.fail("world was not built");
  const p = (): DnsProxy => proxy ?? assert.fail("proxy was not started");

  before(async () => {
    bpffsBefore = bpffsSnapshot();
    await sweepStale();
    store.apply({ upsert: [{ kind: "service", service: echoService(["10.96.0.10", "fd00:96::10"]) }] });
    upstream = await startUpstream();
    const dns = new DnsProxy({
      snapshot: () => store.current,
      upstreams: [{ address: "127.0.0.1", port: upstream.port }],
    });
    proxy = dns;
    world = await createWorld();
    redirector = await Redirector.start({
      pinRoot: dirs.pinRoot,
      stateDir: dirs.stateDir,
      dns: true,
      handlers: {
        ...FAIL_CLOSED_HANDLERS,
        ...dns.podHandlers(),
        // dns.bpf.c steers UDP only: an app's TCP/53 connect is outbound capture (:15001), so the
        // tunnel hands connections to port 53 to the proxy (how the agent is meant to wire it).
        outbound: (socket, ctx) => {
          if (ctx.original.port === 53) dns.handleTcp(socket, ctx);
          else FAIL_CLOSED_HANDLERS.outbound(socket, ctx);
        },
      },
    });
    const pod = world.pod("pod-a1");
    await redirector.enroll({
      uid: `uid-pod-a1-${world.runId}`,
      name: "pod-a1",
      namespace: NAMESPACE,
      netnsPath: `/run/netns/${pod.netns}`,
      cgroupPath: pod.cgroup,
      ips: [pod.ipv4, pod.ipv6],
    });
  });

  after(async () => {
    try {
      await redirector?.close();
      proxy?.close();
      await world?.destroy();
    } finally {
      if (upstream !== undefined && upstream.child.exitCode === null) {
        upstream.child.kill("SIGTERM");
        await once(upstream.child, "exit");
      }
      dirs.remove();
    }
  });

  void test("a mesh name asked of any server gets the VIP, from the proxy, seemingly from that server", async () => {
    // pod-b2 runs no DNS server and 192.0.2.53 does not exist: only the proxy can answer.
    for (const server of [w().pod("pod-b2").ipv4, "192.0.2.53"]) {
      const got = await dnsQuery(w(), "pod-a1", { server, name: MESH_NAME });
      assert.equal(got.rcode, "NOERROR");
      assert.deepEqual(got.answers, [{ name: MESH_NAME, type: "A", data: "10.96.0.10" }]);
      assert.deepEqual(got.replyFrom, { address: server, port: 53 });
    }
    const v6 = await dnsQuery(w(), "pod-a1", { server: w().pod("pod-b2").ipv6, name: "echo", type: "AAAA" });
    assert.deepEqual(v6.answers, [{ name: "echo", type: "AAAA", data: "fd00:96::10" }]);
    assert.deepEqual(v6.replyFrom, { address: w().pod("pod-b2").ipv6, port: 53 });
  });

  void test("the resolver's first search expansion is answered with a CNAME to the Service", async () => {
    const name = `${MESH_NAME}.${NAMESPACE}.svc.cluster.local`;
    const got = await dnsQuery(w(), "pod-a1", { server: w().pod("pod-b2").ipv4, name });
    assert.deepEqual(got.answers, [
      { name, type: "CNAME", data: MESH_NAME },
      { name: MESH_NAME, type: "A", data: "10.96.0.10" },
    ]);
  });

  void test("a name outside the mesh is forwarded by ztunnel's process to the upstream and answered", async () => {
    const forwarded = p().stats.forwarded;
    const server = w().pod("pod-b2").ipv4;
    const got = await dnsQuery(w(), "pod-a1", { server, name: "www.example.org" });
    assert.equal(got.rcode, "NOERROR");
    assert.deepEqual(got.answers, [{ name: "www.example.org", type: "A", data: UPSTREAM_ANSWER }]);
    assert.deepEqual(got.replyFrom, { address: server, port: 53 });
    assert.equal(p().stats.forwarded, forwarded + 1);
    const asked = events(upstream!.stdout.join("\n"), "query").filter((e) =>
      (e["questions"] as { name: string }[]).some((q) => q.name === "www.example.org"),
    );
    assert.equal(asked.length, 1, "the upstream saw the query once");
    // From the node netns (ztunnel's own socket), not from the pod: it was never captured again.
    const from = asked[0]!["from"] as { address: string };
    assert.match(from.address, /^(::ffff:)?127\.0\.0\.1$/);
  });

  void test("a push changes the answer: the proxy reads the current snapshot per query", async () => {
    store.apply({ upsert: [{ kind: "service", service: echoService(["10.96.7.7"]) }] });
    const got = await dnsQuery(w(), "pod-a1", { server: w().pod("pod-b2").ipv4, name: MESH_NAME });
    assert.deepEqual(got.answers, [{ name: MESH_NAME, type: "A", data: "10.96.7.7" }]);
    const v6 = await dnsQuery(w(), "pod-a1", {
      server: w().pod("pod-b2").ipv4,
      name: MESH_NAME,
      type: "AAAA",
    });
    assert.equal(v6.rcode, "NOERROR", "IPv4-only now: AAAA is NOERROR with no records, not NXDOMAIN");
    assert.deepEqual(v6.answers, []);
  });

  async function tcpDns(
    host: string,
    port: number,
    name: string,
  ): Promise<{ reply: DecodedPacket; peer: unknown }> {
    const query = encode({
      type: "query",
      id: 4242,
      flags: RECURSION_DESIRED,
      questions: [{ type: "A", name }],
    });
    const r = await w().runInPod(
      "pod-a1",
      process.execPath,
      ["-e", TCP_CLIENT, host, String(port), query.toString("hex")],
      {
        name: "dns-tcp",
      },
    );
    const line = JSON.parse(r.stdout.trim().split("\n")[0] ?? "{}") as {
      reply?: string;
      error?: string;
      peer?: unknown;
    };
    assert.equal(line.error, undefined, `${host}:${port}: ${r.stdout} ${r.stderr}`);
    const reply = decode(Buffer.from(line.reply ?? "", "hex"));
    assert.equal(reply.id, 4242);
    return { reply, peer: line.peer };
  }

  void test("the in-pod :15053/tcp listener serves DNS over TCP", async () => {
    const { reply } = await tcpDns("127.0.0.1", 15053, MESH_NAME);
    assert.deepEqual(
      (reply.answers ?? []).map((a) => ("data" in a ? a.data : undefined)),
      ["10.96.7.7"],
    );
  });

  void test("an app's TCP/53 to any server reaches the proxy through outbound capture", async () => {
    const server = w().pod("pod-b2").ipv4;
    const mesh = await tcpDns(server, 53, MESH_NAME);
    assert.deepEqual(
      (mesh.reply.answers ?? []).map((a) => ("data" in a ? a.data : undefined)),
      ["10.96.7.7"],
    );
    assert.deepEqual(mesh.peer, { address: server, port: 53 }, "getpeername shows the server asked");
    const forwarded = await tcpDns(server, 53, "tcp.example.org");
    assert.deepEqual(
      (forwarded.reply.answers ?? []).map((a) => ("data" in a ? a.data : undefined)),
      [UPSTREAM_ANSWER],
    );
  });

  void test("nothing outside the test's pin root changed in bpffs", async () => {
    await redirector?.close();
    redirector = undefined;
    dirs.remove();
    assert.deepEqual(bpffsSnapshot(), bpffsBefore);
  });
});
