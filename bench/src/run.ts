// `npm run bench` (scripts/bench.sh builds, then runs this with the pinned Node):
//   --only a,b     run only these benchmarks (default: all): push-latency, redirect-connect (root)
//   --quick        smaller, shorter scenarios (a sanity run, not figures to publish)
//   --cpu-prof     write CPU profiles (bench/results/profiles/) of the measured phases
//   --out <dir>    results directory (default bench/results)
//   --render       only re-render today's (or --date's) .md and the README from the JSON
// Writes <out>/<YYYY-MM-DD>.json and .md (a run merges into the same day's files, one entry per
// benchmark) and refreshes the latest table in bench/README.md.
import { cpus, freemem, loadavg, totalmem, release } from "node:os";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Benchmark } from "./bench.js";
import { latestAcrossDays, markdownReport, readJson, type Machine, type ResultsFile } from "./report.js";
import { meshL4 } from "./mesh-l4.bench.js";
import { pushLatency } from "./push-latency.bench.js";
import { redirectConnect } from "./redirect-connect.bench.js";

const BENCH_DIR = fileURLToPath(new URL("../../", import.meta.url));
const REPO = join(BENCH_DIR, "..");
export const BENCHMARKS: readonly Benchmark[] = [pushLatency, redirectConnect, meshL4];
const README_START = "<!-- latest-results:start -->";
const README_END = "<!-- latest-results:end -->";

function machine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    freeMemoryGiB: Math.round(freemem() / 2 ** 30),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    kernel: release(),
    node: process.version,
  };
}

function commit(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: REPO,
      encoding: "utf8",
    }).trim();
    return dirty === "" ? sha : `${sha}+dirty`;
  } catch {
    return "unknown";
  }
}

/** Rebuilds each benchmark's Markdown from its stored figures (after the table format changed). */
function rerender(file: ResultsFile): void {
  for (const [name, run] of Object.entries(file.benchmarks)) {
    const bench = BENCHMARKS.find((b) => b.name === name);
    if (bench?.render === undefined) continue;
    file.benchmarks[name] = {
      ...run,
      result: { ...run.result, markdown: bench.render(run.result.scenarios) },
    };
  }
}

async function refreshReadme(markdown: string): Promise<void> {
  const path = join(BENCH_DIR, "README.md");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    text = `# @weft/bench\n\n${README_START}\n${README_END}\n`;
  }
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  const block = `${README_START}\n${markdown.replace(/^# /m, "### Latest results: ").replace(/^## /gm, "#### ")}\n${README_END}`;
  const next =
    start >= 0 && end > start
      ? `${text.slice(0, start)}${block}${text.slice(end + README_END.length)}`
      : `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(path, next);
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      only: { type: "string" },
      quick: { type: "boolean", default: false },
      "cpu-prof": { type: "boolean", default: false },
      out: { type: "string", default: join(BENCH_DIR, "results") },
      render: { type: "boolean", default: false },
      date: { type: "string" },
    },
    allowPositionals: false,
  });
  const wanted = values.only
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const unknown = wanted?.filter((w) => !BENCHMARKS.some((b) => b.name === w)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: unknown benchmark(s) ${unknown.join(", ")}; available: ${BENCHMARKS.map((b) => b.name).join(", ")}\n`,
    );
    return 2;
  }
  const selected = BENCHMARKS.filter((b) => wanted === undefined || wanted.includes(b.name));
  const outDir = values.out;
  const profileDir = values["cpu-prof"] ? join(outDir, "profiles") : undefined;
  await mkdir(outDir, { recursive: true });
  const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

  const date = values.date ?? new Date().toISOString().slice(0, 10);
  const jsonPath = join(outDir, `${date}.json`);
  const file: ResultsFile = (await readJson(jsonPath)) ?? { date, benchmarks: {} };
  if (values.render) {
    rerender(file);
    const markdown = markdownReport(file);
    await writeFile(join(outDir, `${date}.md`), markdown);
    if (outDir === join(BENCH_DIR, "results")) await refreshReadme(await latestAcrossDays(outDir));
    process.stdout.write(`${markdown}\n`);
    return 0;
  }
  let failed = false;
  for (const bench of selected) {
    const startedAt = new Date().toISOString();
    const m = machine();
    log(`${bench.name}: starting (${values.quick ? "quick" : "full"})`);
    const result = await bench.run({ quick: values.quick, profileDir, log });
    if (result.scenarios.length === 0) failed = true;
    file.benchmarks[bench.name] = { startedAt, commit: commit(), quick: values.quick, machine: m, result };
    // Write after each benchmark, so a later failure keeps the earlier figures.
    await writeFile(jsonPath, `${JSON.stringify(file, null, 2)}\n`);
    const markdown = markdownReport(file);
    await writeFile(join(outDir, `${date}.md`), markdown);
    if (outDir === join(BENCH_DIR, "results")) await refreshReadme(await latestAcrossDays(outDir));
    log(`${bench.name}: done; results in ${jsonPath}`);
  }
  process.stdout.write(`${markdownReport(file)}\n`);
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
