// ztunnel's life around the data path (root, real controller and ztunnels on the netns testbed):
// the admin, readiness and metrics endpoints; the access log; certificate rotation with 1-minute
// certificates under steady traffic without a single failed connection; and SIGTERM: running
// connections drain, pods stay captured (fail closed, never plaintext) while no ztunnel runs, and
// the next ztunnel re-adopts them.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import {
  IDLE_CLIENT,
  Mesh,
  metricSum,
  rootOnly,
  runScript,
  startServer,
  sweepStale,
  tcpEcho,
  type World,
} from "@weft/test";

const ECHO = 7000;

interface CertStatus {
  identity: string;
  serial?: string;
  state: string;
  notAfter?: string;
}

async function echoOk(world: World, from: string, host: string): Promise<boolean> {
  try {
    return (await tcpEcho(world, from, { host, port: ECHO, bytes: 2048 })).ok;
  } catch {
    return false;
  }
}

void describe(
  "ztunnel lifecycle: admin, rotation, drain and restart",
  { ...rootOnly(), timeout: 400_000 },
  () => {
    let mesh: Mesh | undefined;
    const m = (): Mesh => mesh ?? assert.fail("mesh was not built");
    const echoIp = (): string => m().world.pod("echo").ipv4;
    const certs = async (node: string): Promise<CertStatus[]> =>
      JSON.parse((await m().fetchOnNode(node, "http://127.0.0.1:15000/certs")).body) as CertStatus[];

    before(async () => {
      await sweepStale();
      mesh = await Mesh.create({
        nodes: ["node-a", "node-b"],
        pods: [
          { name: "client", node: "node-a" },
          { name: "echo", node: "node-b", app: "echo", serviceAccount: "echo" },
        ],
        certTtl: "1m",
        // This suite runs the fallback: apps are connected to from 127.0.0.6 (ADR 0006); the
        // other suites run with original source (the default).
        ztunnelEnv: { WEFT_ORIGINAL_SOURCE: "false" },
      });
      await startServer(mesh.world, "echo", "tcp-echo", ECHO);
    });

    after(async () => {
      await mesh?.destroy();
    });

    void it("with WEFT_ORIGINAL_SOURCE=false, connects to apps from 127.0.0.6 and leaves pods' routing alone", async () => {
      const r = await tcpEcho(m().world, "client", { host: echoIp(), port: ECHO, bytes: 1024 });
      assert.equal(r.ok, true);
      assert.equal(r.serverSaw?.peer.address, "127.0.0.6");
      const rules = execFileSync("ip", ["-n", m().world.pod("echo").netns, "rule", "show"], {
        encoding: "utf8",
      });
      assert.ok(!rules.includes("fwmark"), rules);
    });

    void it("serves readiness, the config dump, certificates, pools and a log level switch", async () => {
      assert.equal(await echoOk(m().world, "client", echoIp()), true);
      const ready = await m().fetchOnNode("node-a", "http://127.0.0.1:15021/healthz/ready");
      assert.equal(ready.status, 200, ready.body);
      const dump = JSON.parse(
        (await m().fetchOnNode("node-a", "http://127.0.0.1:15000/config_dump")).body,
      ) as {
        node: string;
        pods: { name: string }[];
        workloads: { name: string }[];
        pool: { connections: number };
      };
      assert.equal(dump.node, "node-a");
      assert.deepEqual(
        dump.pods.map((p) => p.name),
        ["client"],
      );
      assert.ok(dump.workloads.some((w) => w.name === "echo"));
      const list = await certs("node-a");
      const client = list.find((c) => c.identity === "spiffe://cluster.local/ns/shop/sa/client");
      assert.equal(client?.state, "valid", JSON.stringify(list));
      assert.match(client?.serial ?? "", /^[0-9a-f]+$/i);
      const pools = JSON.parse((await m().fetchOnNode("node-a", "http://127.0.0.1:15000/pools")).body) as {
        handshakes: number;
      };
      assert.ok(pools.handshakes >= 1);
      const text = await m().scrape("node-a");
      assert.equal(metricSum(text, "weft_ztunnel_enrolled_pods"), 1, text);
      assert.equal(metricSum(text, "weft_ztunnel_xds_connected"), 1);
      assert.ok(metricSum(text, "weft_ztunnel_pool_connections") >= 1);
      const expiry = metricSum(text, "weft_ztunnel_certificate_expiry_seconds", {
        identity: "spiffe://cluster.local/ns/shop/sa/client",
      });
      assert.ok(expiry > 0 && expiry <= 60, `a 1-minute certificate expires within a minute: ${expiry}`);
      assert.ok(metricSum(text, "weft_ztunnel_redirect_events", { reason: "CONNECT_REDIRECTED" }) >= 1);
      const level = await m().fetchOnNode("node-a", "http://127.0.0.1:15000/logging?level=debug", "POST");
      assert.deepEqual(JSON.parse(level.body), { level: "debug" });
      const bad = await m().fetchOnNode("node-a", "http://127.0.0.1:15000/logging?level=loud", "POST");
      assert.equal(bad.status, 400);
      assert.match(bad.body, /unknown level loud/);
      await m().fetchOnNode("node-a", "http://127.0.0.1:15000/logging?level=info", "POST");
    });

    void it("writes one access-log line per connection, with response flags", async () => {
      const { stdout } = await m().ztunnels.get("node-a")!.process.logs();
      const lines = stdout
        .split("\n")
        .filter((l) => l.includes('"msg":"connection complete"'))
        .map(
          (l) =>
            JSON.parse(l) as {
              direction: string;
              response_flags: string;
              security: string;
              dst: { addr: string };
            },
        );
      const mine = lines.filter((l) => l.direction === "outbound" && l.dst.addr === `${echoIp()}:${ECHO}`);
      assert.ok(mine.length >= 1);
      assert.equal(mine[0]?.response_flags, "-");
      assert.equal(mine[0]?.security, "mutual_tls");
    });

    void it("rotates 1-minute certificates under steady traffic with 0 failed connections", async () => {
      const before = new Map(
        (await certs("node-a")).concat(await certs("node-b")).map((c) => [c.identity, c.serial]),
      );
      let ok = 0;
      let failed = 0;
      const until = Date.now() + 75_000; // past half-life (30 s) and past the first certificates' expiry
      while (Date.now() < until) {
        if (await echoOk(m().world, "client", echoIp())) ok++;
        else failed++;
        await sleep(150);
      }
      assert.equal(failed, 0, `${failed} of ${ok + failed} connections failed during rotation`);
      assert.ok(ok > 50, `steady traffic: ${ok} connections`);
      const after = (await certs("node-a")).concat(await certs("node-b"));
      for (const id of [
        "spiffe://cluster.local/ns/shop/sa/client",
        "spiffe://cluster.local/ns/shop/sa/echo",
      ]) {
        const now = after.find((c) => c.identity === id);
        assert.equal(now?.state === "valid" || now?.state === "refreshing", true, JSON.stringify(now));
        assert.notEqual(now?.serial, before.get(id), `${id} was rotated`);
      }
    });

    void it("SIGTERM drains running connections; pods stay captured (fail closed) until the next ztunnel re-adopts them", async () => {
      const w = m().world;
      const running = runScript<{ ok: boolean }>(
        w,
        "client",
        IDLE_CLIENT,
        [echoIp(), String(ECHO), "1000"],
        30_000,
      );
      await sleep(400);
      const exit = await m().stopZtunnel("node-a");
      assert.equal(exit.code, 0, "ztunnel exits cleanly after draining");
      assert.equal((await running).ok, true, "the connection open at SIGTERM finished");
      // No ztunnel on node-a: the client's connections are refused, not sent in plaintext.
      assert.equal(await echoOk(w, "client", echoIp()), false);
      await m().restartZtunnel("node-a");
      let back = false;
      for (let i = 0; i < 50 && !back; i++) {
        back = await echoOk(w, "client", echoIp());
        if (!back) await sleep(200);
      }
      assert.equal(back, true, "the new ztunnel re-adopted the pod");
    });
  },
);
