// The pure parts of mesh-l4: parsing iperf3 and fortio JSON and /proc files, the issue's targets
// and their evaluation, and the Markdown. No I/O here, so bench/test can drive it directly.

export type RowName = "direct" | "stunnel4" | "node-tls" | "node-h2" | "weft-l4" | "weft-same-node";

export const ROW_LABELS: Readonly<Record<RowName, string>> = {
  direct: "direct (no mesh)",
  stunnel4: "stunnel4 mTLS pair",
  "node-tls": "Node floor: node:tls relay pair",
  "node-h2": "Node floor: minimal HBONE pair",
  "weft-l4": "weft L4 (2 ztunnels)",
  "weft-same-node": "weft L4 same node (1 ztunnel)",
};

export interface IperfFigures {
  readonly bitsPerSecond: number;
  readonly sentBitsPerSecond: number;
  readonly retransmits: number | undefined;
  readonly seconds: number;
  readonly streams: number;
}

interface IperfJson {
  error?: string;
  start?: { test_start?: { num_streams?: number } };
  end?: {
    sum_received?: { bits_per_second?: number; seconds?: number };
    sum_sent?: { bits_per_second?: number; retransmits?: number; seconds?: number };
  };
}

/** Figures from `iperf3 -c ... -J`: the receiver's bits/s is the throughput. */
export function parseIperf(text: string): IperfFigures {
  const j = JSON.parse(text) as IperfJson;
  if (j.error !== undefined) throw new Error(`iperf3: ${j.error}`);
  const received = j.end?.sum_received?.bits_per_second;
  const sent = j.end?.sum_sent?.bits_per_second;
  if (typeof received !== "number" || typeof sent !== "number") {
    throw new Error("iperf3 JSON has no end.sum_received/sum_sent bits_per_second");
  }
  return {
    bitsPerSecond: received,
    sentBitsPerSecond: sent,
    retransmits: j.end?.sum_sent?.retransmits,
    seconds: j.end?.sum_received?.seconds ?? j.end?.sum_sent?.seconds ?? Number.NaN,
    streams: j.start?.test_start?.num_streams ?? 1,
  };
}

export interface FortioFigures {
  readonly requestedQps: number | "max";
  readonly actualQps: number;
  readonly durationS: number;
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  readonly sockets: number;
  readonly connections: number;
  readonly avgMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

interface FortioJson {
  RequestedQPS?: string | number;
  ActualQPS?: number;
  ActualDuration?: number;
  NumThreads?: number;
  DurationHistogram?: {
    Count?: number;
    Avg?: number;
    Max?: number;
    Percentiles?: { Percentile: number; Value: number }[] | null;
  };
  RetCodes?: Record<string, number>;
  SocketCount?: number;
}

/** Figures from `fortio load -json -` (durations in seconds there, ms here). */
export function parseFortio(text: string): FortioFigures {
  // fortio may print log lines on stdout before the JSON in some modes: take the outer object.
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start < 0 || end < start) throw new Error("fortio printed no JSON");
  const j = JSON.parse(text.slice(start, end + 1)) as FortioJson;
  const h = j.DurationHistogram;
  if (h === undefined || typeof j.ActualQPS !== "number") throw new Error("fortio JSON has no histogram");
  const pct = (p: number): number => {
    const v = h.Percentiles?.find((x) => Math.abs(x.Percentile - p) < 1e-9)?.Value;
    return v === undefined ? Number.NaN : v * 1000;
  };
  const codes = j.RetCodes ?? {};
  const requests = h.Count ?? 0;
  const ok = codes["200"] ?? 0;
  const requested = Number(j.RequestedQPS);
  return {
    requestedQps: j.RequestedQPS === "max" || !(requested > 0) ? "max" : requested,
    actualQps: j.ActualQPS,
    durationS: (j.ActualDuration ?? Number.NaN) / 1e9,
    requests,
    ok,
    errors: requests - ok,
    sockets: j.SocketCount ?? 0,
    connections: j.NumThreads ?? 0,
    avgMs: (h.Avg ?? Number.NaN) * 1000,
    p50Ms: pct(50),
    p90Ms: pct(90),
    p99Ms: pct(99),
    p999Ms: pct(99.9),
    maxMs: (h.Max ?? Number.NaN) * 1000,
  };
}

/** utime + stime (clock ticks) from the text of /proc/<pid>/stat. */
export function cpuTicksFromStat(stat: string): number {
  // comm (field 2) may contain spaces and parentheses: fields after the last ")" are fixed.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error("unreadable /proc/<pid>/stat");
  return utime + stime;
}

/** VmRSS in KiB from the text of /proc/<pid>/status. */
export function rssKiBFromStatus(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new Error("no VmRSS in /proc/<pid>/status");
  return Number(m[1]);
}

/** CPU seconds per 1000 requests; numerically the same as vCPU per 1000 rps. */
export function cpuPer1000(cpuSeconds: number, requests: number): number {
  return requests > 0 ? (cpuSeconds * 1000) / requests : Number.NaN;
}

export interface CpuFigures {
  /** Per process (e.g. ztunnel@node-a), CPU seconds in the phase. */
  readonly seconds: Readonly<Record<string, number>>;
  readonly totalSeconds: number;
  /** Total CPU seconds per 1000 requests (= vCPU per 1000 rps). */
  readonly per1000: number;
}

export interface RssFigures {
  /** Per process, KiB, with one connection held open. */
  readonly oneConnKiB: Readonly<Record<string, number>>;
  /** Per process, KiB, with `held` connections open. */
  readonly manyConnKiB: Readonly<Record<string, number>>;
  readonly held: number;
  /** Per process, KiB, at the end of the row (after all the load). */
  readonly afterLoadKiB?: Readonly<Record<string, number>>;
}

export interface RowFigures {
  readonly row: RowName;
  readonly iperf1?: IperfFigures;
  readonly iperf8?: IperfFigures;
  readonly fixed?: FortioFigures;
  readonly fixedCpu?: CpuFigures;
  readonly saturation?: FortioFigures;
  readonly saturationCpu?: CpuFigures;
  readonly newConnections?: FortioFigures;
  readonly rss?: RssFigures;
  /** What failed in this row, by phase. */
  readonly errors: Readonly<Record<string, string>>;
}

export interface MeshL4Scenario {
  readonly kind: "mesh-l4";
  readonly quick: boolean;
  readonly settings: {
    readonly iperfSeconds: number;
    readonly fixedQps: number;
    readonly fixedSeconds: number;
    readonly saturationSeconds: number;
    readonly connSeconds: number;
    readonly connections: number;
    readonly payloadBytes: number;
    readonly held: number;
    readonly fortio: string;
    readonly iperf3: string;
    readonly stunnel: string;
  };
  readonly rows: readonly RowFigures[];
  readonly targets: readonly TargetResult[];
  /**
   * The same targets measured on the minimal HBONE relay pair (node-h2): what any Node.js HBONE
   * tunnel reaches here at best. Absent in runs from before that row existed.
   */
  readonly floorTargets?: readonly TargetResult[];
  /** --cpu-prof: per ztunnel. */
  readonly profiles?: Readonly<Record<string, ProfileSummary>>;
  /** What the profile covered. */
  readonly profilePhase?: string;
}

export interface TargetResult {
  readonly name: string;
  readonly target: string;
  readonly measured: string;
  /** undefined when a figure it needs is missing. */
  readonly pass: boolean | undefined;
}

function rowOf(rows: readonly RowFigures[], name: RowName): RowFigures | undefined {
  return rows.find((r) => r.row === name);
}

function fmt(n: number | undefined, digits = 2): string {
  return n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(digits);
}

function maxOf(rec: Readonly<Record<string, number>> | undefined): number | undefined {
  if (rec === undefined) return undefined;
  const v = Object.values(rec);
  return v.length === 0 ? undefined : Math.max(...v);
}

/**
 * The issue's targets for the L4 data path, evaluated on one run's rows: `subject` (weft-l4, or a
 * Node floor row) against direct and stunnel4 of the same run.
 */
export function evaluateTargets(rows: readonly RowFigures[], subject: RowName = "weft-l4"): TargetResult[] {
  const direct = rowOf(rows, "direct");
  const stunnel = rowOf(rows, "stunnel4");
  const measured = rowOf(rows, subject);
  const out: TargetResult[] = [];
  const ratioTarget = (
    name: string,
    target: string,
    num: number | undefined,
    den: number | undefined,
    min: number,
  ): void => {
    const ratio = num !== undefined && den !== undefined && den > 0 ? num / den : undefined;
    out.push({
      name,
      target,
      measured: ratio === undefined ? "missing" : `${fmt(ratio)}×`,
      pass: ratio === undefined ? undefined : ratio >= min,
    });
  };
  ratioTarget(
    "throughput, 1 stream",
    "≥ 1.3× stunnel4",
    measured?.iperf1?.bitsPerSecond,
    stunnel?.iperf1?.bitsPerSecond,
    1.3,
  );
  ratioTarget(
    "throughput, 8 streams",
    "≥ 1.3× stunnel4",
    measured?.iperf8?.bitsPerSecond,
    stunnel?.iperf8?.bitsPerSecond,
    1.3,
  );
  const added =
    measured?.fixed !== undefined && direct?.fixed !== undefined
      ? measured.fixed.p99Ms - direct.fixed.p99Ms
      : undefined;
  out.push({
    name: "added p99 at 1000 rps",
    target: "≤ 1 ms",
    measured: added === undefined ? "missing" : `${fmt(added, 3)} ms`,
    pass: added === undefined ? undefined : added <= 1,
  });
  ratioTarget(
    "keep-alive HTTP rps at saturation",
    "≥ 0.5× direct",
    measured?.saturation?.actualQps,
    direct?.saturation?.actualQps,
    0.5,
  );
  const conns = measured?.newConnections?.errors === 0 ? measured.newConnections.actualQps : undefined;
  out.push({
    name: "new tunnelled connections/s",
    target: "≥ 5000/s",
    measured:
      measured?.newConnections === undefined
        ? "missing"
        : `${fmt(measured.newConnections.actualQps, 0)}/s${measured.newConnections.errors > 0 ? ` (${measured.newConnections.errors} errors)` : ""}`,
    pass: measured?.newConnections === undefined ? undefined : conns !== undefined && conns >= 5000,
  });
  const cpu = measured?.fixedCpu?.per1000;
  out.push({
    name: "ztunnel CPU (both) per 1000 rps",
    target: "≤ 0.05 vCPU",
    measured: cpu === undefined ? "missing" : `${fmt(cpu, 3)} vCPU`,
    pass: cpu === undefined || !Number.isFinite(cpu) ? undefined : cpu <= 0.05,
  });
  const rss = maxOf(measured?.rss?.manyConnKiB);
  out.push({
    name: `ztunnel RSS at ${measured?.rss?.held ?? 1000} connections (larger of the two)`,
    target: "≤ 40 MB",
    measured: rss === undefined ? "missing" : `${fmt(rss / 1024, 1)} MiB`,
    pass: rss === undefined ? undefined : rss / 1024 <= 40,
  });
  return out;
}

export interface ProfileEntry {
  readonly functionName: string;
  readonly location: string;
  readonly selfPercent: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly samples: number;
  /** Samples not (idle); the percentages below (but idlePercent) are shares of these. */
  readonly busySamples: number;
  readonly top: readonly ProfileEntry[];
  /** Share of busy samples in JavaScript frames (not (program), (garbage collector) or native). */
  readonly jsPercent: number;
  readonly idlePercent: number;
  readonly gcPercent: number;
  /** Busy samples by where the frame is: native/(program), GC, node: internals, weft's code, dependencies. */
  readonly areas: Readonly<Record<string, number>>;
  /** True when only the samples inside the load window were counted (else: the whole process life). */
  readonly windowed: boolean;
}

/** A time window on the CPU profile's clock (CLOCK_MONOTONIC, µs: process.hrtime.bigint() / 1000). */
export interface ProfileWindow {
  readonly startUs: number;
  readonly endUs: number;
}

function areaOf(name: string, url: string): string {
  if (name === "(garbage collector)") return "GC";
  if (url === "" || name.startsWith("(")) return "native / (program)";
  if (url.startsWith("node:")) return "node: internals (JS)";
  if (url.includes("/node_modules/")) return "dependencies (JS)";
  return "weft (JS)";
}

interface CpuProfileJson {
  nodes: {
    id: number;
    hitCount?: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples?: number[];
  startTime?: number;
  timeDeltas?: number[];
}

/** Self-time per function of a V8 .cpuprofile, largest first; only inside `window` when it has samples there. */
export function summarizeProfile(
  file: string,
  text: string,
  topN = 15,
  window?: ProfileWindow,
): ProfileSummary {
  const p = JSON.parse(text) as CpuProfileJson;
  const count = (inWindow: boolean): Map<number, number> => {
    const hits = new Map<number, number>();
    if (p.samples !== undefined && p.samples.length > 0) {
      let t = p.startTime ?? 0;
      p.samples.forEach((id, i) => {
        t += p.timeDeltas?.[i] ?? 0;
        if (inWindow && window !== undefined && (t < window.startUs || t > window.endUs)) return;
        hits.set(id, (hits.get(id) ?? 0) + 1);
      });
    } else {
      for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
    }
    return hits;
  };
  let hits = count(window !== undefined);
  const windowed = window !== undefined && hits.size > 0;
  if (!windowed) hits = count(false);
  const areaHits = new Map<string, number>();
  const byFn = new Map<string, { functionName: string; location: string; hits: number }>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  let js = 0;
  for (const n of p.nodes) {
    const h = hits.get(n.id) ?? 0;
    if (h === 0) continue;
    total += h;
    const name = n.callFrame.functionName || "(anonymous)";
    const url = n.callFrame.url;
    if (name === "(idle)") idle += h;
    else if (name === "(garbage collector)") gc += h;
    else if (url !== "" && !name.startsWith("(")) js += h;
    if (name !== "(idle)") areaHits.set(areaOf(name, url), (areaHits.get(areaOf(name, url)) ?? 0) + h);
    const short = url.replace(/^file:\/\/.*?\/(node_modules|ztunnel|core|native|state|api)\//, "$1/");
    const location = url === "" ? "(native)" : `${short}:${n.callFrame.lineNumber + 1}`;
    const key = `${name}@${location}`;
    const e = byFn.get(key) ?? { functionName: name, location, hits: 0 };
    e.hits += h;
    byFn.set(key, e);
  }
  // Shares of the busy (non-idle) samples: at a fixed rate the process is mostly idle.
  const busy = total - idle;
  const pct = (h: number, of = busy): number => (of > 0 ? Math.round((h / of) * 1000) / 10 : 0);
  const top = [...byFn.values()]
    .filter((e) => e.functionName !== "(idle)")
    .sort((a, b) => b.hits - a.hits)
    .slice(0, topN)
    .map((e) => ({ functionName: e.functionName, location: e.location, selfPercent: pct(e.hits) }));
  return {
    file,
    samples: total,
    busySamples: busy,
    top,
    jsPercent: pct(js),
    idlePercent: pct(idle, total),
    gcPercent: pct(gc),
    areas: Object.fromEntries([...areaHits].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, pct(v)])),
    windowed,
  };
}

const ROW_ORDER: readonly RowName[] = [
  "direct",
  "stunnel4",
  "node-tls",
  "node-h2",
  "weft-l4",
  "weft-same-node",
];

function gbit(b: number | undefined): string {
  return b === undefined ? "–" : fmt(b / 1e9, 2);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !(b > 0) ? "–" : `${fmt(a / b)}×`;
}

function sumOf(rec: Readonly<Record<string, number>> | undefined): number | undefined {
  return rec === undefined ? undefined : Object.values(rec).reduce((a, b) => a + b, 0);
}

function mib(rec: Readonly<Record<string, number>> | undefined): string {
  if (rec === undefined) return "–";
  return Object.entries(rec)
    .map(([k, v]) => `${k} ${fmt(v / 1024, 1)}`)
    .join(", ");
}

export function renderMeshL4(scenarios: readonly unknown[]): string {
  const s = scenarios.find((x): x is MeshL4Scenario => (x as MeshL4Scenario | undefined)?.kind === "mesh-l4");
  if (s === undefined) return "No mesh-l4 figures.";
  const rows = ROW_ORDER.map((n) => rowOf(s.rows, n)).filter((r): r is RowFigures => r !== undefined);
  const direct = rowOf(s.rows, "direct");
  const st = s.settings;
  const lines: string[] = [];
  lines.push(
    `Throughput: iperf3 ${st.iperf3}, ${st.iperfSeconds} s per figure, receiver bits/s. ` +
      `Latency: fortio ${st.fortio} HTTP/1.1 keep-alive, ${st.connections} connections, ${st.payloadBytes} B POST ` +
      `(echoed), 10 µs histogram resolution; fixed ${st.fixedQps} rps for ${st.fixedSeconds} s, saturation ` +
      `(-qps 0) for ${st.saturationSeconds} s. New connections: fortio -keepalive=false -qps 0, ` +
      `${st.connections} connections, ${st.connSeconds} s (one TCP connection per HTTP request). ` +
      `stunnel4 ${st.stunnel}: client stunnel in the client pod, server stunnel in the server pod, mutual TLS ` +
      `(ECDSA P-256, TLS 1.3). Node floor rows: the least a Node.js tunnel pair does here, in the ` +
      `stunnel pods with its certificates (bench/src/mesh-l4/relay.ts: accept, connect, pipe(); no ` +
      `routing, policy, metrics or logs): node:tls = a TLS connection per app connection like stunnel, ` +
      `minimal HBONE = one HTTP/2 session over mutual TLS 1.3 and a CONNECT stream per app connection, ` +
      `weft's windows. All pods on a 2-node netns testbed, client on node-a, server on node-b ` +
      `(same-node row: both on node-a); ratios are against direct in this run.`,
    "",
    "| row | 1 stream Gbit/s | 8 streams Gbit/s | p50 / p99 / p99.9 ms at " +
      `${st.fixedQps} rps | added p50 / p99 ms | saturation rps (ratio) | sat. p50 / p99 ms | new conn/s (ratio) |`,
    "|---|---|---|---|---|---|---|---|",
  );
  for (const r of rows) {
    const f = r.fixed;
    const addP50 = f !== undefined && direct?.fixed !== undefined ? f.p50Ms - direct.fixed.p50Ms : undefined;
    const addP99 = f !== undefined && direct?.fixed !== undefined ? f.p99Ms - direct.fixed.p99Ms : undefined;
    const nc = r.newConnections;
    lines.push(
      `| ${ROW_LABELS[r.row]} | ${gbit(r.iperf1?.bitsPerSecond)} (${ratio(r.iperf1?.bitsPerSecond, direct?.iperf1?.bitsPerSecond)}) ` +
        `| ${gbit(r.iperf8?.bitsPerSecond)} (${ratio(r.iperf8?.bitsPerSecond, direct?.iperf8?.bitsPerSecond)}) ` +
        `| ${f === undefined ? "–" : `${fmt(f.p50Ms, 3)} / ${fmt(f.p99Ms, 3)} / ${fmt(f.p999Ms, 3)}`}` +
        `${f !== undefined && f.errors > 0 ? ` (${f.errors} errors)` : ""} ` +
        `| ${r.row === "direct" ? "—" : `${fmt(addP50, 3)} / ${fmt(addP99, 3)}`} ` +
        `| ${fmt(r.saturation?.actualQps, 0)} (${ratio(r.saturation?.actualQps, direct?.saturation?.actualQps)}) ` +
        `| ${r.saturation === undefined ? "–" : `${fmt(r.saturation.p50Ms, 3)} / ${fmt(r.saturation.p99Ms, 3)}`} ` +
        `| ${fmt(nc?.actualQps, 0)} (${ratio(nc?.actualQps, direct?.newConnections?.actualQps)})` +
        `${nc !== undefined && nc.errors > 0 ? `, ${nc.errors} errors` : ""} |`,
    );
  }
  lines.push(
    "",
    "CPU and memory of the tunnel processes (ztunnels for weft, both processes of each pair):",
    "",
    `| row | CPU s per 1000 req at ${st.fixedQps} rps (= vCPU per 1000 rps) | CPU s per 1000 req at saturation | RSS MiB, 1 conn | RSS MiB, ${st.held} conns | RSS MiB after the load |`,
    "|---|---|---|---|---|---|",
  );
  for (const r of rows) {
    if (r.row === "direct") continue;
    lines.push(
      `| ${ROW_LABELS[r.row]} | ${fmt(r.fixedCpu?.per1000, 4)} (${fmt(sumOf(r.fixedCpu?.seconds), 2)} s) ` +
        `| ${fmt(r.saturationCpu?.per1000, 4)} | ${mib(r.rss?.oneConnKiB)} | ${mib(r.rss?.manyConnKiB)} | ${mib(r.rss?.afterLoadKiB)} |`,
    );
  }
  const verdict = (t: TargetResult | undefined): string =>
    t === undefined || t.pass === undefined ? "n/a" : t.pass ? "pass" : "FAIL";
  const floor = s.floorTargets;
  lines.push(
    "",
    "Targets from the issue (reported, not asserted)" +
      (floor === undefined ? ":" : "; the last two columns are the same figure for the minimal HBONE pair:"),
    "",
    floor === undefined ? "| target | wanted | measured | |" : "| target | wanted | weft | | Node floor | |",
    floor === undefined ? "|---|---|---|---|" : "|---|---|---|---|---|---|",
  );
  for (const [i, t] of s.targets.entries()) {
    // Both lists come from evaluateTargets, in the same order.
    const f = floor?.[i];
    lines.push(
      `| ${t.name} | ${t.target} | ${t.measured} | ${verdict(t)} |` +
        (floor === undefined ? "" : ` ${f?.measured ?? "missing"} | ${verdict(f)} |`),
    );
  }
  const failures = rows.flatMap((r) =>
    Object.entries(r.errors).map(([phase, e]) => `${ROW_LABELS[r.row]} ${phase}: ${e}`),
  );
  if (failures.length > 0)
    lines.push("", "Phases that failed:", "", ...failures.map((f) => `- ${f.slice(0, 400)}`));
  for (const [who, p] of Object.entries(s.profiles ?? {})) {
    lines.push(
      "",
      `CPU profile of ${who}, ${p.windowed ? "the samples" : "whole process life, including startup, with"} ` +
        `${p.windowed ? "in the" : ""} ${s.profilePhase ?? `${st.fixedSeconds} s at ${st.fixedQps} rps`}: ` +
        `${p.samples} samples, ${p.idlePercent} % idle; of the ${p.busySamples} busy samples JS frames ${p.jsPercent} %, ` +
        `GC ${p.gcPercent} %. By area: ${Object.entries(p.areas)
          .map(([k, v]) => `${k} ${v} %`)
          .join(
            ", ",
          )}. Top self time (share of busy samples; native work is charged to the builtin that called it):`,
      "",
      "| self % | function | where |",
      "|---|---|---|",
      ...p.top.map((e) => `| ${e.selfPercent} | ${e.functionName} | ${e.location} |`),
    );
  }
  return lines.join("\n");
}
