// The L4 mesh end to end (root): the real weft-controller (file source) and one real weft-ztunnel
// per node on the netns testbed, apps in enrolled pods. Pod → pod on the same node and across
// nodes, and pod → Service VIP load-balanced over its endpoints, all over HBONE with the pods' own
// SPIFFE identities; the apps see the real destination; Istio metrics count what was sent.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { MemoryReport } from "@weft/core";
import {
  CONCURRENT_CLIENT,
  IDLE_CLIENT,
  MARKER_CLIENT,
  Mesh,
  metricSum,
  rootOnly,
  runScript,
  startServer,
  tcpEcho,
  sweepStale,
} from "@weft/test";

const ECHO = 7000;
const VIP = "10.96.0.20";

void describe("L4 mesh: controller + a ztunnel per node", { ...rootOnly(), timeout: 600_000 }, () => {
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
        { name: "meter", node: "node-a" },
        { name: "plain", node: "node-b", enrol: false },
      ],
      services: [{ name: "echo", vip: VIP, app: "echo", ports: [{ port: 80, targetPort: ECHO }] }],
      // Nothing answers there: a name outside the mesh gets SERVFAIL, proving it was forwarded.
      dns: { upstreams: ["127.0.0.1:5399"] },
    });
    await startServer(mesh.world, "echo-a", "tcp-echo", ECHO);
    await startServer(mesh.world, "echo-b", "tcp-echo", ECHO);
    await startServer(mesh.world, "plain", "tcp-echo", ECHO);
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
    // The server's side: its own port, and the client pod itself as the peer (original source:
    // ztunnel dials the app from the client's IP, not from 127.0.0.6).
    assert.equal(r.serverSaw?.local.port, ECHO);
    assert.equal(r.serverSaw?.peer.address, m().world.pod("client").ipv4);
  });

  void it("pod → pod across nodes", async () => {
    const r = await tcpEcho(m().world, "client", {
      host: m().world.pod("echo-b").ipv4,
      port: ECHO,
      bytes: 1024 * 1024,
    });
    assert.equal(r.ok, true);
    assert.equal(
      r.serverSaw?.peer.address,
      m().world.pod("client").ipv4,
      "the real client, across nodes too",
    );
  });

  void it("pod → pod over IPv6, same node and across nodes", async () => {
    for (const pod of ["echo-a", "echo-b"]) {
      const r = await tcpEcho(m().world, "client", {
        host: m().world.pod(pod).ipv6,
        port: ECHO,
        bytes: 128 * 1024,
      });
      assert.equal(r.ok, true);
      assert.equal(r.remote.address, m().world.pod(pod).ipv6);
      assert.equal(r.serverSaw?.peer.address, m().world.pod("client").ipv6, "the real client over IPv6");
    }
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

  void it("passes connections to destinations outside the mesh through as plain TCP", async () => {
    const w = m().world;
    const r = await tcpEcho(w, "client", { host: w.pod("plain").ipv4, port: ECHO, bytes: 64 * 1024 });
    assert.equal(r.ok, true);
    // Not tunnelled: the server sees the client pod itself (ztunnel dialled from the pod's netns).
    assert.equal(r.serverSaw?.peer.address, w.pod("client").ipv4);
    const a = await m().scrape("node-a");
    assert.ok(
      metricSum(a, "istio_tcp_connections_opened_total", {
        reporter: "source",
        destination_service: w.pod("plain").ipv4,
        connection_security_policy: "unknown",
      }) >= 1,
      a,
    );
  });

  void it("answers Service names from the mesh state through the in-pod DNS proxy", async () => {
    const w = m().world;
    const r = await w.runApp<{
      ok: boolean;
      rcode: string;
      answers: { type: string; data: string }[];
      replyFrom: { address: string };
    }>("client", "dns-client", [
      "--server",
      "10.255.0.53",
      "--name",
      "echo.shop.svc.cluster.local",
      "--type",
      "A",
    ]);
    assert.equal(r.rcode, "NOERROR");
    assert.deepEqual(
      r.answers.map((a) => a.data),
      [VIP],
    );
    assert.equal(r.replyFrom.address, "10.255.0.53", "the reply comes from the server the app asked");
    const other = await w.runApp<{ rcode: string }>("client", "dns-client", [
      "--server",
      "10.255.0.53",
      "--name",
      "elsewhere.example",
    ]);
    assert.equal(other.rcode, "SERVFAIL", "names outside the mesh are forwarded upstream");
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
  void it("puts nothing but TLS on the wire: a plaintext marker never appears in a capture", async () => {
    const w = m().world;
    const marker = "WEFT-PLAINTEXT-MARKER-0123456789;";
    const pcapUplink = join(w.tmpDir, "uplink.pcap");
    const pcapBridge = join(w.tmpDir, "bridge.pcap");
    const capture = async (iface: string, file: string) => {
      const p = await w.spawnOnNode(
        "node-a",
        "tcpdump",
        // Immediate mode: without it TPACKET_V3 hands packets over only when a ring block fills or
        // its 1 s timer retires it, and a SIGTERM before that loses them (CI once saw an empty file).
        ["-i", iface, "--immediate-mode", "-U", "-n", "-s", "0", "-w", file, "tcp"],
        {
          name: `tcpdump-${iface}`,
        },
      );
      // tcpdump says "listening on" on stderr once the capture runs.
      for (let i = 0; i < 200 && !(await p.logs()).stderr.includes("listening on"); i++) await sleep(50);
      assert.ok((await p.logs()).stderr.includes("listening on"), `tcpdump on ${iface} never started`);
      return p;
    };
    const uplink = await capture(w.node("node-a").uplink, pcapUplink);
    const bridge = await capture(w.node("node-a").bridge, pcapBridge);
    await sleep(500);
    const across = await runScript<{ ok: boolean }>(w, "client", MARKER_CLIENT, [
      w.pod("echo-b").ipv4,
      String(ECHO),
      marker,
      "2000",
    ]);
    const same = await runScript<{ ok: boolean }>(w, "client", MARKER_CLIENT, [
      w.pod("echo-a").ipv4,
      String(ECHO),
      marker,
      "2000",
    ]);
    assert.equal(across.ok, true);
    assert.equal(same.ok, true);
    // Both runs sent 66 kB or more through each capture point; wait (bounded) until it is on disk.
    const files = [pcapUplink, pcapBridge];
    for (let i = 0; i < 100; i++) {
      const sizes = await Promise.all(files.map(async (f) => (await readFile(f)).length));
      if (sizes.every((n) => n > 66_000)) break;
      await sleep(50);
    }
    await uplink.stop(2000);
    await bridge.stop(2000);
    for (const [where, file, proc] of [
      ["node uplink (across nodes)", pcapUplink, uplink],
      ["node bridge (same node)", pcapBridge, bridge],
    ] as const) {
      const bytes = await readFile(file);
      assert.ok(
        bytes.length > 66_000,
        `${where}: the capture holds the tunnelled traffic (${bytes.length} bytes); tcpdump said: ${(await proc.logs()).stderr}`,
      );
      assert.equal(bytes.includes(Buffer.from(marker)), false, `${where}: plaintext marker seen on the wire`);
      // TLS 1.3 application data records: content type 23, legacy version 3.3.
      assert.ok(bytes.includes(Buffer.from([0x17, 0x03, 0x03])), `${where}: no TLS records in the capture`);
      // HBONE port in the TCP headers (15008 = 0x3aa0).
      assert.ok(bytes.includes(Buffer.from([0x3a, 0xa0])), `${where}: no traffic to :15008`);
    }
  });

  void it("counts exactly: connections and bytes in Istio metrics match what was sent", async () => {
    const w = m().world;
    const labels = { source_principal: "spiffe://cluster.local/ns/shop/sa/meter" };
    const before = { a: await m().scrape("node-a"), b: await m().scrape("node-b") };
    const count = 12;
    const bytes = 100_000;
    let fromServer = 0;
    for (let i = 0; i < count; i++) {
      const r = await tcpEcho(w, "meter", { host: w.pod("echo-b").ipv4, port: ECHO, bytes, seed: i + 1 });
      assert.equal(r.ok, true);
      // The echo's answer: its JSON header line, then our bytes.
      fromServer += JSON.stringify(r.serverSaw).length + 1 + bytes;
    }
    const delta = async (node: "a" | "b", name: string, reporter: string): Promise<number> => {
      const text = await m().scrape(`node-${node}`);
      return (
        metricSum(text, name, { ...labels, reporter }) -
        metricSum(before[node], name, { ...labels, reporter })
      );
    };
    // Closes are recorded when both ends finish: wait for the last one.
    for (
      let i = 0;
      i < 50 && (await delta("b", "istio_tcp_connections_closed_total", "destination")) < count;
      i++
    )
      await sleep(100);
    for (const [node, reporter] of [
      ["a", "source"],
      ["b", "destination"],
    ] as const) {
      assert.equal(
        await delta(node, "istio_tcp_connections_opened_total", reporter),
        count,
        `${reporter} opened`,
      );
      assert.equal(
        await delta(node, "istio_tcp_connections_closed_total", reporter),
        count,
        `${reporter} closed`,
      );
      const received = await delta(node, "istio_tcp_received_bytes_total", reporter);
      const sent = await delta(node, "istio_tcp_sent_bytes_total", reporter);
      assert.ok(
        Math.abs(received - count * bytes) <= count * bytes * 0.01,
        `${reporter} received ${received}, sent by the client ${count * bytes}`,
      );
      assert.ok(
        Math.abs(sent - fromServer) <= fromServer * 0.01,
        `${reporter} sent ${sent}, answered by the server ${fromServer}`,
      );
    }
  });

  void it("carries 1000 concurrent connections", async () => {
    const r = await runScript<{ ok: number; failed: number; connected: number; errors: unknown }>(
      m().world,
      "client",
      CONCURRENT_CLIENT,
      [m().world.pod("echo-b").ipv4, String(ECHO), "1000", "2048"],
      150_000,
    );
    assert.deepEqual({ ok: r.ok, failed: r.failed }, { ok: 1000, failed: 0 }, JSON.stringify(r.errors));
    const pools = JSON.parse((await m().fetchOnNode("node-a", "http://127.0.0.1:15000/pools")).body) as {
      handshakes: number;
    };
    // 1000 streams at ≤100 per connection: a handful of handshakes, not 1000.
    assert.ok(pools.handshakes < 100, `handshakes: ${pools.handshakes}`);
  });

  void it("keeps a long-lived idle connection working (past the HTTP/2 keepalive PINGs)", async () => {
    const r = await runScript<{ ok: boolean }>(
      m().world,
      "client",
      IDLE_CLIENT,
      [m().world.pod("echo-b").ipv4, String(ECHO), "25000"],
      60_000,
    );
    assert.equal(r.ok, true);
  });

  void it("moves 1 GB across nodes with matching checksums", async () => {
    const w = m().world;
    const r = await w.runApp<{ ok: boolean; bytesReceived: number }>(
      "client",
      "tcp-client",
      [
        "--host",
        w.pod("echo-b").ipv4,
        "--port",
        String(ECHO),
        "--bytes",
        String(1024 * 1024 * 1024),
        "--timeout",
        "170000",
      ],
      180_000,
    );
    assert.equal(r.ok, true);
    assert.equal(r.bytesReceived, 1024 * 1024 * 1024);
  });

  void it("keeps the launcher's 4 MiB young generation after bulk traffic, as /memory reports", async () => {
    // After the 1 GB transfer above, V8's default would have grown the new space well past 8 MiB
    // (up to 2 × 64 MiB here).
    for (const node of ["node-a", "node-b"]) {
      const res = await m().fetchOnNode(node, "http://127.0.0.1:15000/memory");
      assert.equal(res.status, 200, res.body);
      const report = JSON.parse(res.body) as MemoryReport;
      const young = report.heapSpaces.new;
      assert.ok(young !== undefined, `${node}: the new space is reported`);
      assert.ok(young.sizeBytes <= 8 * 1024 * 1024, `${node}: new space ${young.sizeBytes} bytes`);
      // The last occurrence of a flag is the one V8 uses.
      const semi = report.nodeFlags.filter((f) => f.startsWith("--max-semi-space-size=")).at(-1);
      assert.equal(semi, "--max-semi-space-size=4", `${node}: ${report.nodeFlags.join(" ")}`);
      assert.ok(report.rssBytes > report.heapTotalBytes, `${node}: RSS covers the heap`);
    }
  });
});
