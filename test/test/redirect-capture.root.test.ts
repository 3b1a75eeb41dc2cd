// The Redirector end to end in a netns world (root): enrolling a pod captures its outbound TCP on
// :15001 with the exact original destination (IPv4, IPv6, v4-mapped) while the app still sees the
// destination it asked for; inbound to the pod lands on :15006 (port kept) or the HBONE listener;
// loopback, pod-to-itself and non-enrolled pods are untouched; DNS to any server:53 lands on
// :15053 and the answer seems to come from that server; a closed :15006 drops inbound (never the
// app); unenrol releases the pod and leaves nothing behind.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type net from "node:net";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { decode, encode } from "dns-packet";
import {
  ORIGINAL_SOURCE_MARK,
  ORIGINAL_SOURCE_TABLE,
  WEFT_MAPS,
  openPinnedMap,
  readReasonCounters,
} from "@weft/native";
import {
  createWorld,
  dnsQuery,
  rootOnly,
  startServer,
  sweepStale,
  type PodProcess,
  type World,
} from "@weft/test";
import { Redirector, type InboundContext, type OutboundContext, type PodRecord } from "@weft/ztunnel";
import { bpffsSnapshot, events, filesBelow, lineOf, probe, scratch } from "./redirect-support.js";

const require = createRequire(import.meta.url);
const ECHO = 7000;
const APP = 8080;

interface Landed {
  kind: "outbound" | "inbound" | "hbone";
  original?: OutboundContext["original"];
  destination?: InboundContext["destination"];
  pod: string;
  peerPort: number;
}

void describe("Redirector: capture in a netns world", { ...rootOnly(), timeout: 60_000 }, () => {
  let world: World | undefined;
  let redirector: Redirector | undefined;
  const dirs = scratch();
  const landed: Landed[] = [];
  const servers: Record<string, PodProcess> = {};
  let bpffsBefore: string[] = [];
  const w = (): World => world ?? assert.fail("world was not built");
  const r = (): Redirector => redirector ?? assert.fail("redirector did not start");

  function land(kind: Landed["kind"], socket: net.Socket, extra: Partial<Landed>, pod: PodRecord): void {
    socket.on("error", () => {}); // probes leave abruptly
    landed.push({ kind, pod: pod.name, peerPort: socket.remotePort ?? 0, ...extra });
    socket.end(`${JSON.stringify({ via: kind, ...extra })}\n`);
  }

  const spec = (name: string): Parameters<Redirector["enroll"]>[0] => {
    const pod = w().pod(name);
    return {
      uid: `uid-${name}-${w().runId}`,
      name,
      namespace: "default",
      netnsPath: `/run/netns/${pod.netns}`,
      cgroupPath: pod.cgroup,
      ips: [pod.ipv4, pod.ipv6],
    };
  };

  before(async () => {
    bpffsBefore = bpffsSnapshot();
    await sweepStale();
    world = await createWorld();
    servers.b1 = await startServer(world, "pod-b1", "tcp-echo", ECHO);
    servers.a1 = await startServer(world, "pod-a1", "tcp-echo", APP);
    servers.a2 = await startServer(world, "pod-a2", "tcp-echo", APP);
    redirector = await Redirector.start({
      pinRoot: dirs.pinRoot,
      stateDir: dirs.stateDir,
      dns: true,
      originalSource: true,
      // pod-a2's IPv4 (a pod that is not enrolled) is excluded outbound and a probe source inbound.
      excludeCidrs: [`${world.pod("pod-a2").ipv4}/32`, "2001:db8:ffff::/48"],
      probeSources: [world.pod("pod-a2").ipv4],
      handlers: {
        outbound: (s, ctx) => land("outbound", s, { original: ctx.original }, ctx.pod),
        inbound: (s, ctx) => land("inbound", s, { destination: ctx.destination }, ctx.pod),
        hbone: (s, ctx) => land("hbone", s, { destination: ctx.destination }, ctx.pod),
        dnsUdp: (query, ctx) => {
          const q = decode(query);
          ctx.reply(
            encode({
              type: "response",
              id: q.id ?? 0,
              questions: q.questions ?? [],
              answers: (q.questions ?? []).map((question) => ({
                type: "A" as const,
                name: question.name,
                ttl: 5,
                data: "10.99.0.42",
              })),
            }),
          );
        },
      },
    });
    assert.deepEqual(
      r().adoption,
      { adopted: [], collected: [], failed: [] },
      "a fresh pin root has nothing to adopt",
    );
    await r().enroll(spec("pod-a1"));
  });

  after(async () => {
    try {
      await redirector?.close();
      await world?.destroy();
    } finally {
      dirs.remove();
    }
  });

  const outbound = [
    {
      family: "IPv4",
      host: (): string => w().pod("pod-b1").ipv4,
      original: (): string => w().pod("pod-b1").ipv4,
      fam: 4,
    },
    {
      family: "IPv6",
      host: (): string => w().pod("pod-b1").ipv6,
      original: (): string => w().pod("pod-b1").ipv6,
      fam: 6,
    },
    {
      family: "v4-mapped",
      host: (): string => `::ffff:${w().pod("pod-b1").ipv4}`,
      original: (): string => `::ffff:${w().pod("pod-b1").ipv4}`,
      fam: 6,
    },
  ] as const;
  for (const c of outbound) {
    void test(`outbound ${c.family}: lands on :15001 with the exact original destination`, async () => {
      const got = await probe(w(), "pod-a1", c.host(), ECHO);
      assert.equal(got.error, undefined, JSON.stringify(got));
      const l = landed.find((x) => x.kind === "outbound" && x.peerPort === got.localPort);
      assert.ok(l, "ztunnel's :15001 accepted it");
      assert.deepEqual(l.original, { address: c.original(), port: ECHO, family: c.fam, protocol: "tcp" });
      // getpeername in the app shows what it asked for.
      assert.equal(got.remoteAddress, c.host());
      assert.equal(got.remotePort, ECHO);
      assert.ok(r().reasonCounters().CONNECT_REDIRECTED > 0n, "counted as redirected");
    });
  }

  void test("the real destination never saw a plaintext connection from the enrolled pod", async () => {
    const seen = events((await servers.b1!.logs()).stdout, "connection");
    assert.deepEqual(
      seen.filter((e) => (e["peer"] as { address: string }).address === w().pod("pod-a1").ipv4),
      [],
    );
  });

  void test("inbound to podIP:8080 lands on :15006 with port 8080; :15008 on the HBONE listener", async () => {
    const a1 = w().pod("pod-a1");
    for (const ip of [a1.ipv4, a1.ipv6]) {
      const plain = await probe(w(), "pod-b1", ip, APP);
      assert.equal(lineOf(plain).via, "inbound", JSON.stringify(plain));
      const l = landed.find((x) => x.kind === "inbound" && x.peerPort === plain.localPort);
      assert.deepEqual(l?.destination, { address: ip, port: APP });
      const hbone = await probe(w(), "pod-b1", ip, 15008);
      assert.equal(lineOf(hbone).via, "hbone", JSON.stringify(hbone));
    }
    const appSaw = events((await servers.a1!.logs()).stdout, "connection");
    assert.deepEqual(
      appSaw.filter((e) => (e["peer"] as { address: string }).address !== a1.ipv4),
      [],
      "the app never got a connection from outside the pod",
    );
  });

  void test("outbound to any IP:port, even one nobody serves, lands on :15001 with it", async () => {
    const cases = [
      { host: "192.0.2.10", port: 443, fam: 4 }, // TEST-NET-1: no route, no server
      { host: "203.0.113.7", port: 1, fam: 4 },
      { host: "2001:db8::10", port: 65535, fam: 6 },
    ] as const;
    for (const c of cases) {
      const got = await probe(w(), "pod-a1", c.host, c.port);
      assert.equal(got.error, undefined, `${c.host}:${c.port}: ${JSON.stringify(got)}`);
      const l = landed.find((x) => x.kind === "outbound" && x.peerPort === got.localPort);
      assert.ok(l, `${c.host}:${c.port} was accepted on :15001`);
      assert.deepEqual(l.original, { address: c.host, port: c.port, family: c.fam, protocol: "tcp" });
      assert.equal(got.remoteAddress, c.host, "getpeername shows the address asked for");
      assert.equal(got.remotePort, c.port);
    }
  });

  void test("inbound to any port, even one no app listens on, lands on :15006 with that port", async () => {
    const a1 = w().pod("pod-a1");
    for (const [ip, port] of [
      [a1.ipv4, 1],
      [a1.ipv4, 443],
      [a1.ipv4, 65535],
      [a1.ipv6, 9999],
    ] as const) {
      const got = await probe(w(), "pod-b1", ip, port);
      assert.equal(lineOf(got).via, "inbound", `${ip}:${port}: ${JSON.stringify(got)}`);
      const l = landed.find((x) => x.kind === "inbound" && x.peerPort === got.localPort);
      assert.deepEqual(l?.destination, { address: ip, port });
    }
  });

  void test("loopback and the pod's own IP are not captured", async () => {
    const a1 = w().pod("pod-a1");
    for (const host of ["127.0.0.1", "::1", a1.ipv4, a1.ipv6]) {
      const got = await probe(w(), "pod-a1", host, APP);
      assert.equal(got.error, undefined, `${host}: ${JSON.stringify(got)}`);
      assert.ok(lineOf(got).peer, `${host} reached the app itself: ${got.line}`);
    }
  });

  void test("a configured exclude CIDR is reached directly; a configured probe source reaches the app", async () => {
    const a1 = w().pod("pod-a1");
    const a2 = w().pod("pod-a2");
    const skipped = r().reasonCounters().CONNECT_SKIP_EXCLUDED;
    const out = await probe(w(), "pod-a1", a2.ipv4, APP);
    assert.equal(lineOf(out).peer?.address, a1.ipv4, `a2's app saw a1 itself: ${JSON.stringify(out)}`);
    assert.ok(!landed.some((l) => l.kind === "outbound" && l.peerPort === out.localPort), "not on :15001");
    assert.ok(r().reasonCounters().CONNECT_SKIP_EXCLUDED > skipped, "counted as excluded");
    // The same pod's IPv6 is not excluded: still captured.
    const v6 = await probe(w(), "pod-a1", a2.ipv6, APP);
    assert.ok(
      landed.some((l) => l.kind === "outbound" && l.peerPort === v6.localPort),
      "IPv6 captured",
    );

    const probes = r().reasonCounters().SKLOOKUP_PASS_PROBE;
    const into = await probe(w(), "pod-a2", a1.ipv4, APP);
    assert.equal(
      lineOf(into).peer?.address,
      a2.ipv4,
      `the app saw the probe source: ${JSON.stringify(into)}`,
    );
    assert.ok(r().reasonCounters().SKLOOKUP_PASS_PROBE > probes, "counted as a probe");
    const fromV6 = await probe(w(), "pod-a2", a1.ipv6, APP);
    assert.equal(lineOf(fromV6).via, "inbound", "a2's IPv6 is not a probe source: captured");
  });

  void test("a pod that is not enrolled is untouched, both ways", async () => {
    const out = await probe(w(), "pod-a2", w().pod("pod-b1").ipv4, ECHO);
    assert.deepEqual(lineOf(out).peer?.address, w().pod("pod-a2").ipv4);
    const into = await probe(w(), "pod-b1", w().pod("pod-a2").ipv4, APP);
    assert.deepEqual(lineOf(into).peer?.address, w().pod("pod-b1").ipv4);
  });

  void test("DNS: UDP to any server:53 lands on :15053; the reply comes from the server asked", async () => {
    for (const server of [w().pod("pod-b2").ipv4, "192.0.2.53", w().pod("pod-b2").ipv6]) {
      const got = await dnsQuery(w(), "pod-a1", { server, name: "svc.example.test" });
      assert.equal(got.ok, true);
      assert.deepEqual(got.answers, [{ name: "svc.example.test", type: "A", data: "10.99.0.42" }]);
      assert.deepEqual(got.replyFrom, { address: server, port: 53 });
    }
  });

  void test("DNS over a connected UDP socket (as resolvers do): lands on :15053; getpeername and the reply show the server", async () => {
    // connect() a UDP socket to server:53 (the UDP connect4/6 hook), send without an address, and
    // report what getpeername (remoteAddress) and the reply's source say.
    const script = `
const dgram = require("dgram");
const { encode, decode } = require(process.argv[3]);
const server = process.argv[1];
const s = dgram.createSocket(server.includes(":") ? "udp6" : "udp4");
const q = encode({ type: "query", id: 4242, flags: 256, questions: [{ type: "A", name: "connected.example.test" }] });
s.on("message", (m, rinfo) => {
  const r = decode(m);
  process.stdout.write(JSON.stringify({ peer: s.remoteAddress(), from: { address: rinfo.address, port: rinfo.port }, id: r.id, answers: r.answers.map((a) => a.data) }) + "\\n");
  process.exit(0);
});
s.connect(Number(process.argv[2]), server, () => s.send(q));
setTimeout(() => { process.stdout.write(JSON.stringify({ error: "timeout" }) + "\\n"); process.exit(0); }, 3000);
`;
    const dnsPacket = require.resolve("dns-packet");
    const before = r().reasonCounters().DNS_REDIRECTED;
    for (const server of ["192.0.2.53", w().pod("pod-b2").ipv6]) {
      const run = await w().runInPod("pod-a1", process.execPath, ["-e", script, server, "53", dnsPacket], {
        name: "dns-connected",
        timeoutMs: 8000,
      });
      const got = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as {
        error?: string;
        peer?: { address: string; port: number };
        from?: { address: string; port: number };
        id?: number;
        answers?: string[];
      };
      assert.equal(got.error, undefined, `${server}: ${run.stdout} ${run.stderr}`);
      assert.deepEqual(got.answers, ["10.99.0.42"], "answered by the :15053 handler");
      assert.equal(got.id, 4242);
      assert.deepEqual(got.from, { address: server, port: 53 }, "the reply seems to come from the server");
      assert.equal(got.peer?.address, server, "getpeername shows the server connected to");
      assert.equal(got.peer?.port, 53);
    }
    assert.ok(r().reasonCounters().DNS_REDIRECTED > before, "counted as DNS redirected");
  });

  void test("enrol is idempotent for the same netns; a different netns or a taken IP conflicts", async () => {
    const again = await r().enroll(spec("pod-a1"));
    assert.equal(again, r().pod(spec("pod-a1").uid), "the same pod, not a second set of listeners");
    await assert.rejects(
      r().enroll({ ...spec("pod-a1"), netnsPath: `/run/netns/${w().pod("pod-a2").netns}` }),
      {
        code: "WEFT_E_CONFLICT",
        message: /already enrolled with network namespace/,
      },
    );
    await assert.rejects(r().enroll({ ...spec("pod-a2"), ips: [w().pod("pod-a1").ipv4] }), {
      code: "WEFT_E_CONFLICT",
      message: /is held by enrolled pod/,
    });
    await assert.rejects(r().enroll({ ...spec("pod-a2"), netnsPath: "/run/netns/weft-no-such-netns" }), {
      code: "WEFT_E_NOT_FOUND",
      message: /network namespace \/run\/netns\/weft-no-such-netns does not exist/,
    });
    await assert.rejects(r().enroll({ ...spec("pod-a2"), uid: "../escape" }), {
      code: "WEFT_E_INVALID_INPUT",
    });
    assert.deepEqual(
      r()
        .pods()
        .map((p) => p.name),
      ["pod-a1"],
      "failed enrolments left nothing enrolled",
    );
    assert.deepEqual(
      filesBelow(`${dirs.pinRoot}/pods`).filter((f) => !f.startsWith(spec("pod-a1").uid)),
      [],
    );
  });

  void test("fail closed: without the :15006 listener inbound is dropped, never given to the app", async () => {
    const uid = spec("pod-a1").uid;
    const inbound = r().pod(uid)?.byRole("inbound") ?? [];
    assert.equal(inbound.length, 1);
    inbound[0]!.server.close();
    const before = events((await servers.a1!.logs()).stdout, "connection").length;
    const stats = openPinnedMap(dirs.pinRoot, WEFT_MAPS.stats);
    try {
      const drops = readReasonCounters(stats).SKLOOKUP_DROP_NO_LISTENER;
      const got = await probe(w(), "pod-b1", w().pod("pod-a1").ipv4, APP, 1500);
      // sk_lookup's drop makes the lookup find no socket: the peer gets a reset (or nothing).
      assert.ok(
        got.error === "ECONNREFUSED" || got.error === "timeout",
        `not connected: ${JSON.stringify(got)}`,
      );
      assert.ok(readReasonCounters(stats).SKLOOKUP_DROP_NO_LISTENER > drops, "sk_lookup dropped it");
    } finally {
      stats.close();
    }
    assert.equal(
      events((await servers.a1!.logs()).stdout, "connection").length,
      before,
      "the app saw nothing",
    );
    // Unenrol + enrol restores a working pod.
    assert.equal(await r().unenroll(uid), true);
    await r().enroll(spec("pod-a1"));
    const back = await probe(w(), "pod-b1", w().pod("pod-a1").ipv4, APP);
    assert.equal(lineOf(back).via, "inbound");
  });

  void test("unenrol releases the pod, is idempotent and leaves no pins, map entries or records", async () => {
    const uid = spec("pod-a1").uid;
    // Enrolled: the pod netns holds the original-source routing (ADR 0006); unenrolled, it does not.
    const netns = w().pod("pod-a1").netns;
    const routing = (): { rules: string; fwmarkAccept: string } => ({
      rules: execFileSync("ip", ["-n", netns, "rule", "show"], { encoding: "utf8" }),
      fwmarkAccept: execFileSync(
        "ip",
        ["netns", "exec", netns, "sysctl", "-n", "net.ipv4.tcp_fwmark_accept"],
        {
          encoding: "utf8",
        },
      ).trim(),
    });
    const rule = `fwmark 0x${ORIGINAL_SOURCE_MARK.toString(16)} lookup ${ORIGINAL_SOURCE_TABLE}`;
    assert.ok(r().originalSourceReady(r().pod(uid)!.pod));
    assert.ok(routing().rules.includes(rule), routing().rules);
    assert.equal(routing().fwmarkAccept, "1");
    assert.equal(await r().unenroll(uid), true);
    assert.ok(!routing().rules.includes(rule), routing().rules);
    assert.equal(routing().fwmarkAccept, "0");
    assert.equal(await r().unenroll(uid), false, "a second unenrol is a no-op");
    const direct = await probe(w(), "pod-a1", w().pod("pod-b1").ipv4, ECHO);
    assert.equal(lineOf(direct).peer?.address, w().pod("pod-a1").ipv4, "plain TCP again");
    assert.deepEqual(filesBelow(`${dirs.pinRoot}/pods`), []);
    assert.deepEqual(filesBelow(dirs.stateDir), []);
    const podIps = openPinnedMap(dirs.pinRoot, WEFT_MAPS.podIps);
    const listeners = openPinnedMap(dirs.pinRoot, WEFT_MAPS.listeners);
    try {
      assert.deepEqual([...podIps.keys()], []);
      assert.deepEqual([...listeners.keys()], []);
    } finally {
      podIps.close();
      listeners.close();
    }
  });

  void test("a restart's lists replace what the previous process left in the maps", async () => {
    await r().close();
    redirector = await Redirector.start({
      pinRoot: dirs.pinRoot,
      stateDir: dirs.stateDir,
      dns: true,
      excludeCidrs: ["10.1.0.0/16"],
    });
    const exclude = openPinnedMap(dirs.pinRoot, WEFT_MAPS.exclude);
    const probes = openPinnedMap(dirs.pinRoot, WEFT_MAPS.probeAllow);
    try {
      assert.equal([...exclude.keys()].length, 1, "only the new CIDR");
      assert.equal(exclude.lookup("10.1.2.3/32"), 1, "longest-prefix match finds it");
      assert.equal(exclude.lookup(`${w().pod("pod-a2").ipv4}/32`), undefined, "the old one is gone");
      assert.deepEqual([...probes.keys()], [], "no probe sources configured: none left");
    } finally {
      exclude.close();
      probes.close();
    }
  });

  void test("nothing outside the test's pin root changed in bpffs", async () => {
    await r().close();
    redirector = undefined;
    dirs.remove();
    assert.equal(existsSync(dirs.pinRoot), false);
    assert.deepEqual(bpffsSnapshot(), bpffsBefore);
  });
});
