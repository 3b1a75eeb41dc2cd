// The netns testbed end to end (root): a 2-node/4-pod world with real apps in pods; TCP, HTTP/1,
// HTTP/2, gRPC and UDP DNS over IPv4 and IPv6, same node and across nodes; processes land in their
// pod's netns and cgroup; two worlds coexist.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readlink, stat } from "node:fs/promises";
import {
  createWorld,
  dnsQuery,
  grpcEcho,
  httpRequest,
  rootOnly,
  startServer,
  sweepStale,
  tcpEcho,
  type World,
} from "@weft/test";

const TCP = 7000;
const HTTP1 = 8080;
const HTTP2 = 8081;
const GRPC = 9090;

void describe("netns world, standard topology (2 nodes, 4 pods)", { ...rootOnly(), timeout: 45_000 }, () => {
  let world: World | undefined;
  const w = (): World => {
    assert.ok(world, "world was not built");
    return world;
  };

  before(async () => {
    await sweepStale();
    world = await createWorld();
    await Promise.all([
      startServer(world, "pod-a2", "tcp-echo", TCP),
      startServer(world, "pod-b1", "tcp-echo", TCP),
      startServer(world, "pod-b1", "http-echo", HTTP1),
      startServer(world, "pod-b1", "h2-echo", HTTP2),
      startServer(world, "pod-b2", "grpc-echo", GRPC),
      startServer(world, "pod-b2", "dns-server", 53, ["--a", "10.99.0.7", "--aaaa", "fd99::7"]),
    ]);
  });
  after(() => world?.destroy());

  const paths = [
    { what: "same node", to: "pod-a2" },
    { what: "across nodes", to: "pod-b1" },
  ];
  for (const { what, to } of paths) {
    for (const family of ["ipv4", "ipv6"] as const) {
      void test(`TCP echo with sha256 check, ${what}, ${family}`, async () => {
        const client = w().pod("pod-a1");
        const server = w().pod(to);
        const r = await tcpEcho(w(), client.name, {
          host: server[family],
          port: TCP,
          bytes: 300_000,
          seed: 42,
        });
        assert.equal(r.ok, true);
        assert.equal(r.bytesReceived, 300_000);
        assert.equal(r.sha256Received, r.sha256Sent);
        // The server saw the client pod's own address: nothing in between rewrote it.
        assert.equal(r.serverSaw?.peer.address, client[family]);
        assert.equal(r.serverSaw?.peer.port, r.local.port);
        assert.equal(r.serverSaw?.local.address, server[family]);
      });
    }
  }

  void test("HTTP/1.1 echo reflects the request and reports the true peer address (v4 and v6)", async () => {
    const client = w().pod("pod-a1");
    const server = w().pod("pod-b1");
    for (const family of ["ipv4", "ipv6"] as const) {
      const r = await httpRequest(w(), client.name, {
        host: server[family],
        port: HTTP1,
        method: "POST",
        path: "/echo?q=1",
        headers: { "x-weft-test": "yes" },
        body: "hello body",
      });
      assert.equal(r.status, 200);
      assert.equal(r.body.httpVersion, "1.1");
      assert.equal(r.body.method, "POST");
      assert.equal(r.body.path, "/echo?q=1");
      assert.equal(r.body.headers["x-weft-test"], "yes");
      assert.equal(r.body.body, "hello body");
      assert.deepEqual(r.body.remote, { address: client[family], port: r.local.port });
      assert.deepEqual(r.body.local, { address: server[family], port: HTTP1 });
    }
  });

  void test("HTTP/2 (h2c) echo works across nodes (v4 and v6)", async () => {
    const client = w().pod("pod-a1");
    const server = w().pod("pod-b1");
    for (const family of ["ipv4", "ipv6"] as const) {
      const r = await httpRequest(w(), client.name, {
        host: server[family],
        port: HTTP2,
        path: "/h2",
        http2: true,
        body: "x",
      });
      assert.equal(r.status, 200);
      assert.equal(r.body.httpVersion, "2.0");
      assert.equal(r.body.path, "/h2");
      assert.equal(r.body.body, "x");
      assert.deepEqual(r.body.remote, { address: client[family], port: r.local.port });
    }
  });

  void test("gRPC echo works across nodes (v4 and v6)", async () => {
    const client = w().pod("pod-a2");
    const server = w().pod("pod-b2");
    for (const family of ["ipv4", "ipv6"] as const) {
      const r = await grpcEcho(w(), client.name, {
        host: server[family],
        port: GRPC,
        message: `hi over ${family}`,
        metadata: { "x-weft": "1" },
      });
      assert.equal(r.ok, true);
      assert.equal(r.reply.message, `hi over ${family}`);
      assert.equal(r.reply.path, "/weft.test.Echo/Echo");
      assert.equal(r.reply.metadata["x-weft"], "1");
      assert.equal(r.reply.remote.address, client[family]);
    }
  });

  void test("UDP DNS client gets its answer from a responder in another pod (v4 and v6)", async () => {
    const server = w().pod("pod-b2");
    const a = await dnsQuery(w(), "pod-a1", { server: server.ipv4, name: "svc.weft.test", type: "A" });
    assert.equal(a.rcode, "NOERROR");
    assert.deepEqual(a.answers, [{ name: "svc.weft.test", type: "A", data: "10.99.0.7" }]);
    assert.deepEqual(a.replyFrom, { address: server.ipv4, port: 53 });
    const aaaa = await dnsQuery(w(), "pod-a1", { server: server.ipv6, name: "svc.weft.test", type: "AAAA" });
    assert.deepEqual(aaaa.answers, [{ name: "svc.weft.test", type: "AAAA", data: "fd99::7" }]);
    assert.deepEqual(aaaa.replyFrom, { address: server.ipv6, port: 53 });
  });

  void test("a process started in a pod is in the pod's cgroup and netns, with its logs captured", async () => {
    const pod = w().pod("pod-b1");
    const proc = await w().spawnInPod(pod.name, "sh", [
      "-c",
      "echo to-stdout; echo to-stderr >&2; exec sleep 30",
    ]);
    try {
      await proc.waitForLine("to-stdout");
      const cgroup = await readFile(`/proc/${proc.pid}/cgroup`, "utf8");
      const relative = pod.cgroup.slice(pod.cgroup.indexOf(`/${w().prefix}/`));
      assert.ok(cgroup.split("\n").includes(`0::${relative}`), `cgroup of ${proc.pid}: ${cgroup}`);
      const procs = await readFile(`${pod.cgroup}/cgroup.procs`, "utf8");
      assert.ok(procs.split("\n").includes(String(proc.pid)), `cgroup.procs: ${procs}`);
      const netnsLink = await readlink(`/proc/${proc.pid}/ns/net`);
      const podNetns = await stat(`/run/netns/${pod.netns}`);
      assert.equal(netnsLink, `net:[${podNetns.ino}]`);
      assert.notEqual(netnsLink, await readlink("/proc/self/ns/net"));
      const logs = await proc.logs();
      assert.equal(logs.stdout, "to-stdout\n");
      assert.equal(logs.stderr, "to-stderr\n");
    } finally {
      await proc.stop();
    }
    assert.equal(proc.status?.signal, "SIGTERM");
  });

  void test("runInPod returns exit status and output", async () => {
    const r = await w().runInPod("pod-a1", "sh", ["-c", "ip -brief address show dev eth0; exit 3"]);
    assert.equal(r.code, 3);
    assert.match(r.stdout, new RegExp(w().pod("pod-a1").ipv4.replaceAll(".", "\\.")));
  });

  void test("unknown pod names are a clear error", async () => {
    await assert.rejects(
      w().spawnInPod("nope", "true"),
      /WEFT_E_INVALID_INPUT: no pod named "nope".*use one of pod-a1/,
    );
  });
});

void describe("two worlds at once", { ...rootOnly(), timeout: 30_000 }, () => {
  void test("build concurrently, use disjoint names, work independently, destroy independently", async () => {
    const spec = {
      nodes: ["n1", "n2"],
      pods: [
        { name: "c", node: "n1" },
        { name: "s", node: "n2" },
      ],
    };
    const [one, two] = await Promise.all([createWorld(spec), createWorld(spec)]);
    try {
      assert.notEqual(one.runId, two.runId);
      const names = (x: World): string[] => [
        ...x.pods.map((p) => p.netns),
        ...x.nodes.map((n) => n.netns),
        x.plan.cgroupRoot,
        x.tmpDir,
      ];
      const overlap = names(one).filter((n) => names(two).includes(n));
      assert.deepEqual(overlap, []);
      await Promise.all([startServer(one, "s", "tcp-echo", TCP), startServer(two, "s", "tcp-echo", TCP)]);
      const [r1, r2] = await Promise.all([
        tcpEcho(one, "c", { host: one.pod("s").ipv6, port: TCP }),
        tcpEcho(two, "c", { host: two.pod("s").ipv4, port: TCP }),
      ]);
      assert.equal(r1.ok && r2.ok, true);
      await one.destroy();
      const again = await tcpEcho(two, "c", { host: two.pod("s").ipv6, port: TCP, seed: 7 });
      assert.equal(again.ok, true, "destroying one world must not disturb the other");
    } finally {
      await Promise.all([one.destroy(), two.destroy()]);
    }
  });
});
