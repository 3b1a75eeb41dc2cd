// Outbound capture end to end: connect4/connect6 + sockops + getpeername attached to a pod-like
// cgroup, a client process inside that cgroup and a fresh netns, and ztunnel-like listeners on
// 127.0.0.1:15001 / [::1]:15001 created with socketInNetns. The listener must receive every
// captured connection, find its original destination by {netns cookie, 4-tuple}, and the client
// must still see the original peer.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import {
  BpfObject,
  WEFT_MAPS,
  netnsCookie,
  openPinnedMap,
  readReasonCounters,
  socketInNetns,
  socketNetnsCookie,
  type BpfLink,
  type BpfMap,
  type ConnKey,
  type OrigDst,
  type Reason,
} from "@weft/native";
import {
  Cleanup,
  bpfObject,
  capable,
  makeCgroup,
  makeNetns,
  makePinRoot,
  rootMissing,
  runInPod,
  sh,
} from "./support.js";

// The app: connect, report what getpeername/getsockname say, close when the peer answers.
const CLIENT = `
const net = require("net");
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.on("connect", () => process.stdout.write(JSON.stringify({
  localAddress: s.localAddress, localPort: s.localPort, remoteAddress: s.remoteAddress, remotePort: s.remotePort,
}) + "\\n"));
s.on("data", () => s.end());
s.on("close", () => process.exit(0));
s.on("error", (e) => { process.stdout.write(JSON.stringify({ error: e.code }) + "\\n"); process.exit(0); });
`;

interface ClientView {
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
  error?: string;
}

interface Accepted {
  listener: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  orig: OrigDst | undefined;
  origAfterTake: OrigDst | undefined;
}

void describe("outbound capture (connect4/6, sockops, getpeername)", () => {
  const cleanup = new Cleanup();
  const accepted: Accepted[] = [];
  let cgroup = "";
  let ns = { name: "", path: "" };
  let origConn: BpfMap<ConnKey, OrigDst>;
  let stats: BpfMap<number, bigint[]>;

  function serve(name: string, fd: number, onConn: (s: net.Socket, listenerFd: number) => void): void {
    const server = net.createServer((s) => {
      s.on("error", () => {}); // a client that already left is no failure of capture
      onConn(s, fd);
    });
    server.listen({ fd });
    cleanup.add(() => server.close());
  }

  before(async () => {
    if (rootMissing() !== undefined) return;
    const pinRoot = makePinRoot(cleanup);
    cgroup = makeCgroup(cleanup);
    ns = makeNetns(cleanup);
    // Local addresses for the "not captured" cases.
    sh("ip", ["-n", ns.name, "addr", "add", "10.9.9.9/32", "dev", "lo"]);
    sh("ip", ["-n", ns.name, "addr", "add", "10.9.8.8/32", "dev", "lo"]);

    const links: BpfLink[] = [];
    cleanup.add(() => links.forEach((l) => l.close()));
    for (const [file, progs] of [
      ["connect", ["weft_connect4", "weft_connect6"]],
      ["sockops", ["weft_sockops"]],
      ["getpeername", ["weft_getpeername4", "weft_getpeername6"]],
    ] as const) {
      const obj = BpfObject.load(bpfObject(file), { pinRoot });
      cleanup.add(() => obj.close());
      for (const p of progs) links.push(obj.program(p).attachCgroup(cgroup));
    }
    // Maps are shared through their pins: open them the way a restarted ztunnel would.
    origConn = openPinnedMap(pinRoot, WEFT_MAPS.origConn);
    stats = openPinnedMap(pinRoot, WEFT_MAPS.stats);
    const podIps = openPinnedMap(pinRoot, WEFT_MAPS.podIps);
    const exclude = openPinnedMap(pinRoot, WEFT_MAPS.exclude);
    cleanup.add(() => [origConn, stats, podIps, exclude].forEach((m) => m.close()));
    podIps.update("10.9.9.9", { netnsCookie: await netnsCookie(ns.path), flags: 0 });
    exclude.update("10.9.8.0/24", 1);

    // ztunnel's outbound listeners, made inside the pod netns.
    const onCaptured = (listener: string) => (s: net.Socket, fd: number) => {
      const key: ConnKey = {
        netnsCookie: socketNetnsCookie(fd),
        src: { address: s.remoteAddress ?? "", port: s.remotePort ?? 0 },
        dst: { address: s.localAddress ?? "", port: s.localPort ?? 0 },
      };
      const orig = origConn.take(key);
      accepted.push({
        listener,
        remoteAddress: key.src.address,
        remotePort: key.src.port,
        localAddress: key.dst.address,
        localPort: key.dst.port,
        orig,
        origAfterTake: origConn.lookup(key),
      });
      s.end("ok\n");
    };
    const out4 = await socketInNetns(ns.path, {
      family: 4,
      type: "tcp",
      address: "127.0.0.1",
      port: 15001,
      backlog: 64,
      reuseaddr: true,
    });
    const out6 = await socketInNetns(ns.path, {
      family: 6,
      type: "tcp",
      address: "::1",
      port: 15001,
      backlog: 64,
      reuseaddr: true,
      v6only: true,
    });
    serve("out4", out4, onCaptured("out4"));
    serve("out6", out6, onCaptured("out6"));
    // An app in the pod, for destinations that must not be captured.
    const app = await socketInNetns(ns.path, {
      family: 4,
      type: "tcp",
      address: "0.0.0.0",
      port: 8080,
      backlog: 64,
      reuseaddr: true,
    });
    serve("app", app, (s) => {
      accepted.push({
        listener: "app",
        remoteAddress: s.remoteAddress ?? "",
        remotePort: s.remotePort ?? 0,
        localAddress: s.localAddress ?? "",
        localPort: s.localPort ?? 0,
        orig: undefined,
        origAfterTake: undefined,
      });
      s.end("ok\n");
    });

    // The listener's netns cookie is the pod's (what ztunnel uses in the key).
    assert.equal(socketNetnsCookie(out4), await netnsCookie(ns.path));
  });
  after(() => cleanup.run());

  async function connectFromPod(
    host: string,
    port: number,
  ): Promise<{ client: ClientView; server: Accepted | undefined }> {
    const seen = accepted.length;
    const client = JSON.parse(
      (await runInPod(cgroup, ns.name, CLIENT, [host, String(port)])).trim(),
    ) as ClientView;
    const server = accepted.slice(seen).find((a) => a.remotePort === client.localPort);
    return { client, server };
  }

  const captured: [string, string, string, OrigDst][] = [
    ["IPv4 10.1.2.3:80", "10.1.2.3", "out4", { address: "10.1.2.3", port: 80, family: 4, protocol: "tcp" }],
    ["IPv6 [fd00::5]:80", "fd00::5", "out6", { address: "fd00::5", port: 80, family: 6, protocol: "tcp" }],
    [
      "v4-mapped [::ffff:10.1.2.3]:80",
      "::ffff:10.1.2.3",
      "out4",
      { address: "::ffff:10.1.2.3", port: 80, family: 6, protocol: "tcp" },
    ],
  ];

  for (const [name, host, listener, orig] of captured) {
    void it(`captures ${name} and keeps the original destination`, async (t) => {
      if (!capable(t, rootMissing())) return;
      const before = readReasonCounters(stats);
      const { client, server } = await connectFromPod(host, 80);
      assert.equal(client.error, undefined, `client connected (${client.error})`);
      assert.ok(server, "ztunnel's listener accepted the connection");
      assert.equal(server.listener, listener);
      assert.equal(server.localPort, 15001);
      assert.deepEqual(server.orig, orig, "original destination from {netns cookie, 4-tuple}");
      assert.equal(server.origAfterTake, undefined, "take() removed the entry");
      // The app still sees the destination it asked for.
      assert.equal(client.remoteAddress, host);
      assert.equal(client.remotePort, 80);
      const now = readReasonCounters(stats);
      const delta = (r: Reason) => now[r] - before[r];
      assert.equal(delta("CONNECT_REDIRECTED"), 1n);
      assert.equal(delta("SOCKOPS_REKEYED"), 1n);
      assert.ok(delta("GETPEERNAME_RESTORED") >= 1n);
    });
  }

  const direct: [string, string, Reason][] = [
    ["loopback 127.0.0.1", "127.0.0.1", "CONNECT_SKIP_LOOPBACK"],
    ["the pod's own IP", "10.9.9.9", "CONNECT_SKIP_POD_SELF"],
    ["an excluded CIDR", "10.9.8.8", "CONNECT_SKIP_EXCLUDED"],
  ];
  for (const [name, host, reason] of direct) {
    void it(`leaves ${name} alone`, async (t) => {
      if (!capable(t, rootMissing())) return;
      const before = readReasonCounters(stats)[reason];
      const { client, server } = await connectFromPod(host, 8080);
      assert.equal(client.error, undefined);
      assert.equal(server?.listener, "app", "the app itself accepted it");
      assert.equal(server.localAddress, host);
      assert.equal(client.remoteAddress, host);
      assert.equal(readReasonCounters(stats)[reason], before + 1n);
    });
  }

  void it("does not capture processes outside the pod cgroup (like ztunnel itself)", (t) => {
    if (!capable(t, rootMissing())) return;
    // Same netns, no cgroup: 10.1.2.3 has no route there, so an uncaptured connect fails.
    const out = sh("ip", ["netns", "exec", ns.name, process.execPath, "-e", CLIENT, "10.1.2.3", "80"]);
    assert.equal((JSON.parse(out.trim()) as ClientView).error, "ENETUNREACH");
  });
});
