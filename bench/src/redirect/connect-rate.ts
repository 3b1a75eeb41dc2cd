// What capture costs a new connection (root): connect() rate and latency from a pod, without and
// with weft's eBPF capture, in both directions.
//   outbound: an app in the pod cgroup connects to 10.202.0.1:80, a server in a peer netns at the
//             other end of the pod's veth (off the pod, as a real destination is). Baseline: that
//             server accepts it. Captured: connect4 + sockops rewrite it to ztunnel's :15001, whose
//             handler has already taken the original destination from weft_orig_conn (the map work
//             a real ztunnel does per connection).
//   inbound:  the peer netns connects over the veth to podIP:8080. Baseline: the app accepts it.
//             Captured: sk_lookup assigns it to ztunnel's :15006.
// A middle row per direction runs the hook without redirecting (an excluded destination, a peer
// on the probe allow-list), so the cost of running the program shows apart from the redirect.
// Registered in run.ts as the "redirect-connect" benchmark (redirect-connect.bench.ts).
// Both sides close right after the handshake, so the figure is connection setup, not data. The
// load generator is Node: it measures its own connect() overhead too. The figure to read is the
// ratio between rows measured in the same run, not the absolute rate.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, rmdirSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findCgroup2Mount } from "@weft/core";
import { WEFT_MAPS, openPinnedMap, socketInNetns, type Reason } from "@weft/native";
import { Redirector } from "@weft/ztunnel";

interface ClientFigures {
  connections: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  slow: number;
}

// The client: `concurrency` loops, each connect → 'connect' (the latency figure) → the server's
// first byte (so the connection was accepted by the process behind the listener: the app, or
// ztunnel's handler) → reset, until `count` are done. Waiting for the byte keeps at most
// `concurrency` connections in flight, so a server process the shared machine does not schedule
// for a moment cannot have its accept queue overrun (each overrun is a SYN dropped and a 1 s
// retransmit, which dominated the rate of every row, baseline included). The RST (SO_LINGER 0)
// leaves no TIME_WAIT: each direction dials the same destination 3 × 20000 times a round, more
// than the ephemeral port range holds in TIME_WAIT.
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
  s.on("connect", () => lat.push(Number(process.hrtime.bigint() - t) / 1000));
  s.once("data", () => { s.resetAndDestroy(); one(done); });
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

/** TcpExt ListenDrops of a netns: SYNs dropped because a listener's accept queue was full. */
function listenDrops(netns: string): number {
  const text = execFileSync("ip", ["netns", "exec", netns, "cat", "/proc/net/netstat"], { encoding: "utf8" });
  const lines = text.split("\n").filter((l) => l.startsWith("TcpExt:"));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf("ListenDrops");
  return i < 0 ? 0 : Number(values[i] ?? 0);
}

/** Client processes running now: a signal kills them before the netns and cgroup are removed. */
const clients = new Set<ChildProcess>();

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
    clients.add(child);
    child.once("exit", () => clients.delete(child));
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

/** Take a connection, say one byte, and let the client end it (it resets on reading the byte). */
function closeAfterClient(s: net.Socket): void {
  s.on("error", () => {});
  s.write("k");
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

export type Direction = "outbound" | "inbound";
/**
 * none: no program on the path (the pod is not enrolled);
 * hook-pass: the pod is enrolled and the program runs, but lets the connection through untouched
 *   (outbound: the destination is in the exclude-CIDR map; inbound: the peer is on the probe
 *   allow-list), so the row prices running the hook alone;
 * captured: the connection is redirected to ztunnel's listener (:15001 / :15006).
 */
export type Capture = "none" | "hook-pass" | "captured";

export const SCENARIOS: readonly { direction: Direction; capture: Capture; label: string }[] = [
  { direction: "outbound", capture: "none", label: "outbound, no capture" },
  {
    direction: "outbound",
    capture: "hook-pass",
    label: "outbound, connect4 + sockops run, destination excluded (passes)",
  },
  { direction: "outbound", capture: "captured", label: "outbound, captured (connect4 + sockops → :15001)" },
  { direction: "inbound", capture: "none", label: "inbound, no capture" },
  {
    direction: "inbound",
    capture: "hook-pass",
    label: "inbound, sk_lookup runs, peer on probe allow-list (passes)",
  },
  { direction: "inbound", capture: "captured", label: "inbound, captured (sk_lookup → :15006)" },
];

/** The figures of one scenario: of one round, or the medians over all rounds. */
interface ScenarioFigures {
  readonly scenario: string;
  readonly direction: Direction;
  readonly capture: Capture;
  readonly concurrency: number;
  readonly perSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  /** Connections whose handshake took over 200 ms (a lost SYN costs a 1 s retransmit). */
  readonly over200ms: number;
  /** SYNs the kernel dropped on a full accept queue during the row (TcpExt ListenDrops, both netns). */
  readonly listenDrops: number;
}

/** One scenario in one round. */
export interface ConnectFigures extends ScenarioFigures {
  readonly round: number;
  readonly connections: number;
}

/** One scenario over all rounds (medians), against the same direction's no-capture baseline. */
export interface ConnectSummary extends ScenarioFigures {
  readonly rounds: number;
  readonly connectionsPerRound: number;
  /** perSecond / baseline perSecond. */
  readonly rateRatio: number;
  readonly p50Ratio: number;
  readonly p99Ratio: number;
  /** Added connect() latency against the baseline (can be negative: noise, or a shorter path). */
  readonly addedP50Us: number;
  readonly addedP99Us: number;
  /** Added wall-clock time per connection at this concurrency: 1e6/rate − 1e6/baseline rate. */
  readonly addedPerConnectionUs: number;
}

export interface ConnectRateResult {
  readonly kind: "redirect-connect";
  readonly summary: readonly ConnectSummary[];
  readonly rounds: readonly ConnectFigures[];
}

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const r2 = (v: number): number => Math.round(v * 100) / 100;

/** Medians per scenario and ratios against the same direction's no-capture rows (pure). */
export function summarizeConnectRate(rows: readonly ConnectFigures[]): ConnectSummary[] {
  const out: ConnectSummary[] = [];
  const pick = (d: Direction, c: Capture): ConnectFigures[] =>
    rows.filter((r) => r.direction === d && r.capture === c);
  for (const s of SCENARIOS) {
    const mine = pick(s.direction, s.capture);
    const base = pick(s.direction, "none");
    if (mine.length === 0 || base.length === 0) continue;
    const m = (f: (r: ConnectFigures) => number, from: readonly ConnectFigures[]): number =>
      median(from.map(f));
    const rate = m((r) => r.perSecond, mine);
    const p50 = m((r) => r.p50Us, mine);
    const p99 = m((r) => r.p99Us, mine);
    const bRate = m((r) => r.perSecond, base);
    const bP50 = m((r) => r.p50Us, base);
    const bP99 = m((r) => r.p99Us, base);
    out.push({
      scenario: s.label,
      direction: s.direction,
      capture: s.capture,
      rounds: mine.length,
      connectionsPerRound: mine[0]!.connections,
      concurrency: mine[0]!.concurrency,
      perSecond: Math.round(rate),
      p50Us: Math.round(p50),
      p99Us: Math.round(p99),
      maxUs: Math.max(...mine.map((r) => r.maxUs)),
      over200ms: mine.reduce((a, r) => a + r.over200ms, 0),
      listenDrops: mine.reduce((a, r) => a + (r.listenDrops ?? 0), 0),
      rateRatio: r2(rate / bRate),
      p50Ratio: r2(p50 / bP50),
      p99Ratio: r2(p99 / bP99),
      addedP50Us: Math.round(p50 - bP50),
      addedP99Us: Math.round(p99 - bP99),
      addedPerConnectionUs: r2(1e6 / rate - 1e6 / bRate),
    });
  }
  return out;
}

export async function measureConnectRate(opts: {
  quick: boolean;
  /** Rounds of every scenario; default 1 quick, 7 full. Figures are medians over rounds. */
  rounds?: number;
  /** Connections per scenario and round; default 2000 quick, 20000 full. */
  connections?: number;
  log?: (line: string) => void;
}): Promise<ConnectRateResult> {
  const log = opts.log ?? (() => {});
  const count = opts.connections ?? (opts.quick ? 2000 : 20000);
  const rounds = opts.rounds ?? (opts.quick ? 1 : 7);
  const concurrency = 4;
  const id = randomBytes(3).toString("hex");
  const pod = `weft-bench-pod-${id}`;
  const peer = `weft-bench-peer-${id}`;
  const cgroup = join(findCgroup2Mount(), `weft-bench-${id}`);
  const pinRoot = `/sys/fs/bpf/weft-bench-${id}`;
  const stateDir = mkdtempSync(join(tmpdir(), "weft-bench-state-"));
  const uid = `bench-${id}`;
  const cleanups: (() => unknown)[] = [];
  const results: ConnectFigures[] = [];
  const drops = (): number => listenDrops(pod) + listenDrops(peer);
  const record = (
    direction: Direction,
    capture: Capture,
    round: number,
    r: ClientFigures & { drops: number },
  ): void => {
    const scenario = SCENARIOS.find((s) => s.direction === direction && s.capture === capture)!.label;
    const f: ConnectFigures = {
      scenario,
      direction,
      capture,
      round,
      connections: r.connections,
      concurrency,
      perSecond: Math.round(r.connections / r.seconds),
      p50Us: Math.round(r.p50),
      p99Us: Math.round(r.p99),
      maxUs: Math.round(r.max),
      over200ms: r.slow,
      listenDrops: r.drops,
    };
    results.push(f);
    log(
      `redirect-connect round ${round}: ${scenario}: ${f.perSecond}/s p50 ${f.p50Us} µs p99 ${f.p99Us} µs max ${f.maxUs} µs, ${f.over200ms} over 200 ms, ${f.listenDrops} listen drops`,
    );
  };
  const runCleanups = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        log(`cleanup failed: ${String(err)}`);
      }
    }
  };
  // Ctrl-C or a kill mid-run still removes the netns, cgroup, pins and state dir.
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`redirect-connect: ${signal}: cleaning up`);
    for (const c of clients) c.kill("SIGKILL");
    void runCleanups().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
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
    sh("ip", ["-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer]);
    for (const [ns, ip] of [
      [pod, "10.202.0.2/24"],
      [peer, "10.202.0.1/24"],
    ] as const) {
      sh("ip", ["-n", ns, "addr", "add", ip, "dev", "eth0"]);
      sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    }
    const podPath = `/run/netns/${pod}`;

    // The remote service lives in the peer netns (a local address of the pod would meet the pod's
    // own sk_lookup, which an off-pod destination never does).
    const remote = await closingServer(`/run/netns/${peer}`, 4, "10.202.0.1", 80);
    const app = await closingServer(podPath, 4, "0.0.0.0", 8080);
    cleanups.push(
      () => remote.close(),
      () => app.close(),
    );
    const measured = async (f: () => Promise<ClientFigures>): Promise<ClientFigures & { drops: number }> => {
      const d0 = drops();
      const r = await f();
      return { ...r, drops: drops() - d0 };
    };
    const outbound = (): Promise<ClientFigures & { drops: number }> =>
      measured(() => runClient(pod, cgroup, "10.202.0.1", 80, count, concurrency));
    const inbound = (): Promise<ClientFigures & { drops: number }> =>
      measured(() => runClient(peer, undefined, "10.202.0.2", 8080, count, concurrency));

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
    const exclude = openPinnedMap(pinRoot, WEFT_MAPS.exclude);
    const probeAllow = openPinnedMap(pinRoot, WEFT_MAPS.probeAllow);
    cleanups.push(
      () => exclude.close(),
      () => probeAllow.close(),
    );
    cleanups.push(() => redirector.unenroll(uid));
    // Warm-up, not recorded: neighbour entries on the veth, the servers' accept paths, page cache
    // for the client's Node binary (the first connections of a fresh veth can lose a SYN to ARP).
    await runClient(pod, cgroup, "10.202.0.1", 80, Math.min(count, 1000), concurrency);
    await runClient(peer, undefined, "10.202.0.2", 8080, Math.min(count, 1000), concurrency);
    const before = redirector.reasonCounters();
    for (let round = 1; round <= rounds; round++) {
      record("outbound", "none", round, await outbound());
      record("inbound", "none", round, await inbound());
      await redirector.enroll({
        uid,
        name: "bench",
        namespace: "bench",
        netnsPath: podPath,
        cgroupPath: cgroup,
        ips: ["10.202.0.2"],
      });
      exclude.update("10.202.0.1/32", 1);
      probeAllow.update("10.202.0.1/32", 1);
      record("outbound", "hook-pass", round, await outbound());
      record("inbound", "hook-pass", round, await inbound());
      exclude.delete("10.202.0.1/32");
      probeAllow.delete("10.202.0.1/32");
      record("outbound", "captured", round, await outbound());
      record("inbound", "captured", round, await inbound());
      await redirector.unenroll(uid);
    }
    // Each row measured what it claims: the programs counted every connection of their rows.
    const after = redirector.reasonCounters();
    const seen = (r: Reason): bigint => after[r] - before[r];
    const want = BigInt(count * rounds);
    const checks: [Reason, bigint][] = [
      ["CONNECT_SKIP_EXCLUDED", seen("CONNECT_SKIP_EXCLUDED")],
      ["CONNECT_REDIRECTED", seen("CONNECT_REDIRECTED")],
      ["SKLOOKUP_PASS_PROBE", seen("SKLOOKUP_PASS_PROBE")],
      ["SKLOOKUP_PLAINTEXT", seen("SKLOOKUP_PLAINTEXT")],
    ];
    const short = checks.filter(([, n]) => n < want);
    if (short.length > 0) {
      throw new Error(
        `capture did not see every connection (want ${want} each): ${short.map(([r, n]) => `${r}=${n}`).join(", ")}`,
      );
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await runCleanups();
  }
  return { kind: "redirect-connect", summary: summarizeConnectRate(results), rounds: results };
}

const pct = (ratio: number): string => (Number.isFinite(ratio) ? `${Math.round(ratio * 100)} %` : "–");
const signed = (v: number): string => (v > 0 ? `+${v}` : String(v));

export function connectRateMarkdown(summary: readonly ConnectSummary[]): string {
  const lines = [
    "| scenario | conn/s | rate vs. no capture | p50 µs | p50 vs. no capture | added p50 µs | p99 µs | p99 vs. no capture | added p99 µs | added µs / connection | max µs | > 200 ms | listen drops |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...summary.map((r) => {
      const base = r.capture === "none";
      return `| ${r.scenario} | ${r.perSecond} | ${pct(r.rateRatio)} | ${r.p50Us} | ${pct(r.p50Ratio)} | ${base ? "–" : signed(r.addedP50Us)} | ${r.p99Us} | ${pct(r.p99Ratio)} | ${base ? "–" : signed(r.addedP99Us)} | ${base ? "–" : signed(r.addedPerConnectionUs)} | ${r.maxUs} | ${r.over200ms} | ${r.listenDrops ?? "–"} |`;
    }),
  ];
  const first = summary[0];
  if (first !== undefined) {
    lines.push(
      "",
      `Medians over ${first.rounds} round(s) of ${first.connectionsPerRound} connections per scenario, ${first.concurrency} concurrent ` +
        "connect → first byte → reset loops in one Node client process, after an unrecorded warm-up; every round measures its no-capture baseline first, then enrols the pod (and unenrols it at the end). " +
        "Outbound dials 10.202.0.1:80 (a server in a peer netns, over the pod's veth) from the pod cgroup; captured, it lands on :15001 over loopback instead. Inbound dials podIP:8080 over the veth from the peer netns. " +
        "'added µs / connection' is 1e6/rate − 1e6/baseline rate at that concurrency; a connection counts once the process behind the listener accepted it and its first byte arrived (the p50/p99 columns are connect() alone). " +
        "'> 200 ms' counts handshakes that waited for a SYN retransmit; 'listen drops' counts SYNs the kernel dropped on a full accept queue (TcpExt ListenDrops, both netns). " +
        "The load generator is Node, so absolute rates are its own; read the ratios. " +
        "The run fails unless the programs' reason counters saw every connection of the hook rows (CONNECT_SKIP_EXCLUDED, CONNECT_REDIRECTED, SKLOOKUP_PASS_PROBE, SKLOOKUP_PLAINTEXT).",
    );
  }
  return lines.join("\n");
}
