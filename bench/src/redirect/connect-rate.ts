// What capture costs a new connection (root): connect() rate and latency from a pod, without and
// with weft's eBPF capture, in both directions.
//   outbound: an app in the pod cgroup connects to 10.201.0.1:80 (an extra address on the pod
//             netns's lo). Baseline: a server there accepts it. Captured: connect4 + sockops rewrite it
//             to ztunnel's :15001, whose handler has already taken the original destination from
//             weft_orig_conn (the map work a real ztunnel does per connection).
//   inbound:  a peer netns connects over a veth to podIP:8080. Baseline: the app accepts it.
//             Captured: sk_lookup assigns it to ztunnel's :15006.
// Both sides close right after the handshake, so the figure is connection setup, not data. The
// load generator is Node: it measures its own connect() overhead too. The figure to read is the
// ratio between rows measured in the same run, not the absolute rate.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, rmdirSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findCgroup2Mount } from "@weft/core";
import { socketInNetns } from "@weft/native";
import { Redirector } from "@weft/ztunnel";

export interface ConnectFigures {
  readonly scenario: string;
  readonly connections: number;
  readonly concurrency: number;
  readonly perSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  /** Connections whose handshake took over 200 ms (a lost SYN costs a 1 s retransmit). */
  readonly over200ms: number;
}

interface ClientFigures {
  connections: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  slow: number;
}

// The client: `concurrency` loops, each connect → 'connect' → destroy, until `count` are done.
const CLIENT = `
const net = require("net");
const [host, port, count, concurrency] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const lat = [];
let started = 0;
const t0 = process.hrtime.bigint();
function one(done) {
  if (started >= count) return done();
  started++;
  const t = process.hrtime.bigint();
  const s = net.connect({ host, port });
  s.on("connect", () => { lat.push(Number(process.hrtime.bigint() - t) / 1000); s.destroy(); one(done); });
  s.on("error", (e) => { console.error(e.message); process.exit(2); });
}
let left = concurrency;
for (let i = 0; i < concurrency; i++) one(() => {
  if (--left > 0) return;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  const pick = (p) => lat[Math.min(lat.length - 1, Math.ceil(p / 100 * lat.length) - 1)];
  const slow = lat.filter((l) => l > 200000).length;
  process.stdout.write(JSON.stringify({ connections: lat.length, seconds: secs, p50: pick(50), p99: pick(99), max: lat[lat.length - 1], slow }) + "\\n");
});
`;

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Run the client in `netns` (and `cgroup`, when given) and collect its figures. */
function runClient(
  netns: string,
  cgroup: string | undefined,
  host: string,
  port: number,
  count: number,
  concurrency: number,
): Promise<ClientFigures> {
  const script =
    cgroup === undefined
      ? 'shift; exec ip netns exec "$@"'
      : 'echo $$ > "$1/cgroup.procs" && shift && exec ip netns exec "$@"';
  return new Promise((resolve, reject) => {
    const child = spawn(
      "sh",
      [
        "-c",
        script,
        "sh",
        cgroup ?? "-",
        netns,
        process.execPath,
        "-e",
        CLIENT,
        host,
        String(port),
        String(count),
        String(concurrency),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`client exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as ClientFigures);
    });
  });
}

/**
 * Take a connection and close it once the client has: the client closes first, so TIME_WAIT stays
 * on its side. (Closing first here leaves TIME_WAIT on the server, and a client reusing the port
 * then loses its SYN to it and waits a 1 s retransmit: a test artifact, not a cost of capture.)
 */
function closeAfterClient(s: net.Socket): void {
  s.on("error", () => {});
  s.on("end", () => s.destroy());
  s.resume();
}

/** A listener inside `netnsPath` that takes connections and lets the client close them. */
async function closingServer(
  netnsPath: string,
  family: 4 | 6,
  address: string,
  port: number,
): Promise<net.Server> {
  const fd = await socketInNetns(netnsPath, {
    family,
    type: "tcp",
    address,
    port,
    backlog: 1024,
    reuseaddr: true,
  });
  const server = net.createServer(closeAfterClient);
  server.listen({ fd });
  return server;
}

export async function measureConnectRate(opts: {
  quick: boolean;
  log?: (line: string) => void;
}): Promise<ConnectFigures[]> {
  const log = opts.log ?? (() => {});
  const count = opts.quick ? 2000 : 20000;
  const concurrency = 4;
  const id = randomBytes(3).toString("hex");
  const pod = `weft-bench-pod-${id}`;
  const peer = `weft-bench-peer-${id}`;
  const cgroup = join(findCgroup2Mount(), `weft-bench-${id}`);
  const pinRoot = `/sys/fs/bpf/weft-bench-${id}`;
  const stateDir = mkdtempSync(join(tmpdir(), "weft-bench-state-"));
  const cleanups: (() => unknown)[] = [];
  const results: ConnectFigures[] = [];
  const record = (scenario: string, r: ClientFigures): void => {
    const f = {
      scenario,
      connections: r.connections,
      concurrency,
      perSecond: Math.round(r.connections / r.seconds),
      p50Us: Math.round(r.p50),
      p99Us: Math.round(r.p99),
      maxUs: Math.round(r.max),
      over200ms: r.slow,
    };
    results.push(f);
    log(
      `${scenario}: ${f.perSecond}/s p50 ${f.p50Us} µs p99 ${f.p99Us} µs max ${f.maxUs} µs, ${f.over200ms} over 200 ms`,
    );
  };
  try {
    for (const ns of [pod, peer]) {
      sh("ip", ["netns", "add", ns]);
      cleanups.push(() => sh("ip", ["netns", "del", ns]));
      sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
    mkdirSync(cgroup);
    cleanups.push(() => rmdirSync(cgroup));
    cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
    cleanups.push(() => rmSync(pinRoot, { recursive: true, force: true }));
    // The "remote" service: an extra address on lo (capture skips 127/8 and the pod's IPs, not this).
    sh("ip", ["-n", pod, "addr", "add", "10.201.0.1/32", "dev", "lo"]);
    sh("ip", ["-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer]);
    for (const [ns, ip] of [
      [pod, "10.202.0.2/24"],
      [peer, "10.202.0.1/24"],
    ] as const) {
      sh("ip", ["-n", ns, "addr", "add", ip, "dev", "eth0"]);
      sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    }
    const podPath = `/run/netns/${pod}`;

    const remote = await closingServer(podPath, 4, "10.201.0.1", 80);
    const app = await closingServer(podPath, 4, "0.0.0.0", 8080);
    cleanups.push(
      () => remote.close(),
      () => app.close(),
    );
    record("outbound, no capture", await runClient(pod, cgroup, "10.201.0.1", 80, count, concurrency));
    record("inbound, no capture", await runClient(peer, undefined, "10.202.0.2", 8080, count, concurrency));

    const redirector = await Redirector.start({
      pinRoot,
      stateDir,
      handlers: {
        outbound: closeAfterClient,
        inbound: closeAfterClient,
        hbone: closeAfterClient,
      },
    });
    cleanups.push(() => redirector.close());
    await redirector.enroll({
      uid: `bench-${id}`,
      name: "bench",
      namespace: "bench",
      netnsPath: podPath,
      cgroupPath: cgroup,
      ips: ["10.202.0.2"],
    });
    cleanups.push(() => redirector.unenroll(`bench-${id}`));
    record(
      "outbound, captured (connect4 + sockops → :15001)",
      await runClient(pod, cgroup, "10.201.0.1", 80, count, concurrency),
    );
    record(
      "inbound, captured (sk_lookup → :15006)",
      await runClient(peer, undefined, "10.202.0.2", 8080, count, concurrency),
    );
    const counters = redirector.reasonCounters();
    if (counters.CONNECT_REDIRECTED < BigInt(count) || counters.SKLOOKUP_PLAINTEXT < BigInt(count)) {
      throw new Error(
        `capture did not see every connection: ${JSON.stringify(counters, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`,
      );
    }
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log(`cleanup failed: ${String(err)}`);
      }
    }
  }
  return results;
}

export function connectRateMarkdown(rows: readonly ConnectFigures[]): string {
  const base = (dir: string): ConnectFigures | undefined =>
    rows.find((r) => r.scenario === `${dir}, no capture`);
  const lines = [
    "| scenario | conn/s | vs. no capture | p50 µs | p99 µs | max µs | > 200 ms |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) => {
      const b = base(r.scenario.startsWith("outbound") ? "outbound" : "inbound");
      const ratio = b === undefined ? "" : `${((r.perSecond / b.perSecond) * 100).toFixed(0)} %`;
      return `| ${r.scenario} | ${r.perSecond} | ${ratio} | ${r.p50Us} | ${r.p99Us} | ${r.maxUs} | ${r.over200ms} |`;
    }),
  ];
  return lines.join("\n");
}

/** Shaped like the runner's Benchmark (bench/src/bench.ts) so it can be registered there. */
export const redirectConnectBenchmark = {
  name: "redirect-connect",
  description: "new-connection rate and setup latency with and without eBPF capture (root)",
  async run(ctx: { quick: boolean; log: (line: string) => void }) {
    const scenarios = await measureConnectRate({ quick: ctx.quick, log: ctx.log });
    return {
      name: "redirect-connect",
      description: "new-connection rate and setup latency with and without eBPF capture (root)",
      scenarios,
      markdown: connectRateMarkdown(scenarios),
    };
  },
};
