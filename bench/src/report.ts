// The results files and their Markdown: no side effects on import (run.ts is the entry point that
// runs benchmarks; tests import this module).
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { BenchResult } from "./bench.js";

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly freeMemoryGiB: number;
  readonly loadAverageAtStart: readonly number[];
  readonly kernel: string;
  readonly node: string;
}

export interface RunRecord {
  readonly startedAt: string;
  readonly commit: string;
  readonly quick: boolean;
  readonly machine: Machine;
  readonly result: BenchResult;
}

export interface ResultsFile {
  readonly date: string;
  /** The latest run of each benchmark that day. */
  readonly benchmarks: Record<string, RunRecord>;
}

export function markdownReport(file: ResultsFile): string {
  const parts = [`# weft benchmarks, ${file.date}`, ""];
  for (const [name, run] of Object.entries(file.benchmarks).sort(([a], [b]) => a.localeCompare(b))) {
    const m = run.machine;
    parts.push(
      `## ${name}${run.quick ? " (quick)" : ""}`,
      "",
      run.result.description,
      "",
      `Run ${run.startedAt} at ${run.commit}; ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, ` +
        `load average at start ${m.loadAverageAtStart.join(" / ")} (shared machine).`,
      "",
      run.result.markdown,
      "",
    );
  }
  return parts.join("\n");
}

export async function readJson(path: string): Promise<ResultsFile | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as ResultsFile;
  } catch {
    return undefined;
  }
}

/**
 * The newest run of every benchmark across all days in `dir`, each headed with its date: a day
 * that re-ran one benchmark must not hide the others' latest figures from the README.
 */
export async function latestAcrossDays(dir: string): Promise<string> {
  const days = (await readdir(dir)).filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f)).sort();
  const latest = new Map<string, { date: string; run: RunRecord }>();
  for (const day of days) {
    const file = await readJson(join(dir, day));
    if (file === undefined) continue;
    for (const [name, run] of Object.entries(file.benchmarks)) latest.set(name, { date: file.date, run });
  }
  const parts = ["# the newest run of each benchmark", ""];
  for (const [name, { date, run }] of [...latest].sort(([a], [b]) => a.localeCompare(b))) {
    const one = markdownReport({ date, benchmarks: { [name]: run } });
    parts.push(
      one.replace(/^# .*\n\n/, "").replace(/^## (.*)$/m, `## $1 (${date}, bench/results/${date}.md)`),
    );
  }
  return parts.join("\n");
}
