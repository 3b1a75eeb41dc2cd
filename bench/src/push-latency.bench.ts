// push-latency (DESIGN §11): how long a single pod change takes to reach every simulated ztunnel,
// at 1k and 10k pods with 100 and 500 clients, with the clients in the controller's process and
// in a child process (so the controller's own CPU and RSS show). Each scenario runs in a fresh
// process (scenario-main.ts) that is killed by PID if it overruns its time limit.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Benchmark, BenchContext, BenchResult } from "./bench.js";
import { round, summarize } from "./stats.js";
import {
  scenarioName,
  type FleetMode,
  type ScenarioOptions,
  type ScenarioResult,
} from "./push-latency/scenario.js";

const SCENARIO_MAIN = fileURLToPath(new URL("./push-latency/scenario-main.js", import.meta.url));
/** The must-show target: p99 at 10k pods and 500 clients. */
export const TARGET = { pods: 10_000, clients: 500, p99Ms: 100 } as const;

const SIZES: readonly (readonly [pods: number, clients: number])[] = [
  [1000, 100],
  [1000, 500],
  [10_000, 100],
  [10_000, 500],
];

/**
 * Both processes get a young generation of 64 MiB: with 10k resources × 500 clients in the heap,
 * the default 16 MiB meant a scavenge every few changes, each long enough to show in p99. A
 * controller Deployment should run with the same flag (the chart will set it).
 */
const HEAP_FLAGS = ["--max-semi-space-size=64"] as const;

export function plannedScenarios(quick: boolean): ScenarioOptions[] {
  const fleets: readonly FleetMode[] = quick ? ["child"] : ["in-process", "child"];
  const sizes = quick ? SIZES.filter(([, c]) => c === 100) : SIZES;
  const out: ScenarioOptions[] = [];
  for (const fleet of fleets) {
    for (const [pods, clients] of sizes) {
      out.push({
        pods,
        clients,
        // A 10k-pod translation takes a few hundred ms on these cores: fewer changes keep the run short.
        changes: quick ? 10 : pods >= 10_000 ? 30 : 50,
        intervalMs: 200,
        fleet,
        tls: true,
        syncTimeoutMs: 300_000,
        changeTimeoutMs: 10_000,
        childExecArgv: [...HEAP_FLAGS],
      });
    }
  }
  return out;
}

/** Upper bound for one scenario process: initial sync, every change at its timeout, and setup. */
function deadlineMs(o: ScenarioOptions): number {
  return o.syncTimeoutMs + o.changes * (o.intervalMs + 2000) + 60_000;
}

function runInProcess(o: ScenarioOptions, ctx: BenchContext): Promise<ScenarioResult> {
  const opts: ScenarioOptions = ctx.profileDir === undefined ? o : { ...o, profileDir: ctx.profileDir };
  return new Promise<ScenarioResult>((resolve, reject) => {
    const child = fork(SCENARIO_MAIN, [JSON.stringify(opts)], {
      execPath: process.execPath,
      execArgv: ["--max-old-space-size=6144", ...HEAP_FLAGS],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let settled = false;
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
      finish(new Error(`${scenarioName(o)} overran ${deadlineMs(o)} ms and was killed`));
    }, deadlineMs(o));
    const finish = (err: Error | undefined, result?: ScenarioResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== undefined) reject(err);
      else resolve(result!);
    };
    child.on("message", (m: { ok: true; result: ScenarioResult } | { ok: false; error: string }) => {
      if (m.ok) finish(undefined, m.result);
      else finish(new Error(`${scenarioName(o)} failed: ${m.error}`));
    });
    child.once("exit", (code, signal) =>
      finish(new Error(`${scenarioName(o)} exited (${code ?? signal}) without a result`)),
    );
    child.once("error", (err) => finish(err));
  });
}

const mb = (bytes: number): string => `${Math.round(bytes / 2 ** 20)}`;
const ms = (v: number): string => (Number.isNaN(v) ? "–" : v >= 100 ? String(Math.round(v)) : v.toFixed(1));

export function markdownTable(results: readonly ScenarioResult[]): string {
  const header = [
    "pods × clients",
    "clients in",
    "initial sync, all clients (s)",
    "push p50 (ms)",
    "push p99 (ms)",
    "push max (ms)",
    "samples (missing)",
    "server write p99 (ms)",
    "publish p50 (ms)",
    "translate p50 (ms)",
    "controller CPU / change (ms)",
    "controller peak RSS (MiB)",
    "clients' CPU / change (ms)",
    "clients' RSS (MiB)",
  ];
  const rows = results.map((r) => {
    const o = r.options;
    const publish = summarize(r.changes.map((c) => c.publishMs));
    const translate = summarize(r.changes.map((c) => c.translateMs));
    const target = o.pods === TARGET.pods && o.clients === TARGET.clients;
    const p99 = `${ms(r.push.p99)}${target ? (r.push.p99 <= TARGET.p99Ms ? " ✅" : " ❌") : ""}`;
    const cpuPerChange =
      r.fleetProcess === undefined
        ? `${ms(r.cpu.changes.perChangeMs)} (incl. clients)`
        : ms(r.cpu.changes.perChangeMs);
    return [
      `${o.pods >= 1000 ? `${o.pods / 1000}k` : o.pods} × ${o.clients}`,
      o.fleet === "child" ? "child process" : "same process",
      (r.initialSync.allSyncedMs / 1000).toFixed(1),
      ms(r.push.p50),
      p99,
      ms(r.push.max),
      `${r.push.count} (${r.push.missing})`,
      ms(r.serverWrite.p99),
      ms(publish.p50),
      ms(translate.p50),
      cpuPerChange,
      r.fleetProcess === undefined ? `${mb(r.memory.maxRssBytes)} (incl. clients)` : mb(r.memory.maxRssBytes),
      r.fleetProcess === undefined
        ? "–"
        : ms((r.fleetProcess.changes.userMs + r.fleetProcess.changes.systemMs) / o.changes),
      r.fleetProcess === undefined ? "–" : mb(r.fleetProcess.maxRssBytes),
    ];
  });
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const pushLatency: Benchmark = {
  name: "push-latency",
  description:
    "Controller push latency: one pod change reaching the controller's incremental translator → every simulated ztunnel's handler has it (translation, real DeltaXdsServer on grpc-js over TLS 1.3 on loopback, real DeltaXdsClients that decode every resource; the clients in a child process, and in the controller's process).",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const results: ScenarioResult[] = [];
    const failures: string[] = [];
    for (const o of plannedScenarios(ctx.quick)) {
      ctx.log(`push-latency: ${scenarioName(o)}, ${o.changes} changes every ${o.intervalMs} ms`);
      try {
        const r = await runInProcess(o, ctx);
        results.push(r);
        ctx.log(
          `push-latency: ${r.name}: synced in ${round(r.initialSync.allSyncedMs / 1000)} s; push p50 ${r.push.p50} ms p99 ${r.push.p99} ms max ${r.push.max} ms`,
        );
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        failures.push(message);
        ctx.log(`push-latency: ${message}`);
      }
    }
    const notes =
      failures.length === 0
        ? ""
        : `\n\nFailed scenarios:\n${failures.map((f) => `- ${f.split("\n")[0]}`).join("\n")}`;
    return {
      name: this.name,
      description: this.description,
      scenarios: results,
      markdown: `${markdownTable(results)}${notes}`,
    };
  },
  render: (scenarios) => markdownTable(scenarios as readonly ScenarioResult[]),
};
