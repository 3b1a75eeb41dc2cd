// The L4 mesh end to end (root): the real weft-controller (file source) and one real weft-ztunnel
// per node on the netns testbed, apps in enrolled pods. Pod → pod on the same node and across
// nodes, and pod → Service VIP load-balanced over its endpoints, all over HBONE with the pods' own
// SPIFFE identities; the apps see the real destination; Istio metrics count what was sent.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Mesh, metricSum, rootOnly, startServer, tcpEcho, sweepStale } from "@weft/test";

const ECHO = 7000;
const VIP = "10.96.0.20";

void describe("L4 mesh: controller + a ztunnel per node", { ...rootOnly(), timeout: 240_000 }, () => {
  let mesh: Mesh | undefined;
  const m = (): Mesh => mesh ?? assert.fail("mesh was not built");

  before(async () => {
    await sweepStale();
    mesh = await Mesh.create({
      nodes: ["node-a", "node-b"],
      pods: [
        { name: "client", node: "node-a" },
        { name: "echo-a", node: "node-a", app: "echo", serviceAccount: "echo" },
        { name: "echo-b", node: "node-b", app: "echo", serviceAccount: "echo" },
      ],
      services: [{ name: "echo", vip: VIP, app: "echo", ports: [{ port: 80, targetPort: ECHO }] }],
    });
    await startServer(mesh.world, "echo-a", "tcp-echo", ECHO);
    await startServer(mesh.world, "echo-b", "tcp-echo", ECHO);
  });

  after(async () => {
    await mesh?.destroy();
  });

  void it("pod → pod on the same node, over HBONE; the server sees the connection on its real port", async () => {
    const r = await tcpEcho(m().world, "client", {
      host: m().world.pod("echo-a").ipv4,
      port: ECHO,
      bytes: 256 * 1024,
    });
    assert.equal(r.ok, true);
    // The client sees the real peer, not 127.0.0.1:15001.
    assert.equal(r.remote.address, m().world.pod("echo-a").ipv4);
    assert.equal(r.remote.port, ECHO);
    // The server's side: its own port, from ztunnel's inbound passthrough address.
    assert.equal(r.serverSaw?.local.port, ECHO);
    assert.equal(r.serverSaw?.peer.address, "127.0.0.6");
  });

  void it("pod → pod across nodes", async () => {
    const r = await tcpEcho(m().world, "client", {
      host: m().world.pod("echo-b").ipv4,
      port: ECHO,
      bytes: 1024 * 1024,
    });
    assert.equal(r.ok, true);
    assert.equal(r.serverSaw?.peer.address, "127.0.0.6");
  });

  void it("pod → Service VIP reaches both endpoints", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 24 && seen.size < 2; i++) {
      const r = await tcpEcho(m().world, "client", { host: VIP, port: 80, bytes: 1024 });
      assert.equal(r.ok, true);
      assert.equal(r.remote.address, VIP);
      assert.equal(r.remote.port, 80);
      seen.add(JSON.stringify(r.serverSaw?.local));
    }
    assert.equal(seen.size, 2, `both endpoints answered: ${[...seen].join(" ")}`);
  });

  void it("reports Istio TCP metrics with the SPIFFE identities on both sides", async () => {
    const a = await m().scrape("node-a");
    const b = await m().scrape("node-b");
    const client = "spiffe://cluster.local/ns/shop/sa/client";
    const echo = "spiffe://cluster.local/ns/shop/sa/echo";
    assert.ok(
      metricSum(a, "istio_tcp_connections_opened_total", {
        reporter: "source",
        source_principal: client,
        destination_principal: echo,
        connection_security_policy: "mutual_tls",
      }) >= 2,
      a,
    );
    assert.ok(
      metricSum(b, "istio_tcp_connections_opened_total", {
        reporter: "destination",
        source_principal: client,
        destination_principal: echo,
      }) >= 1,
      b,
    );
  });
});
