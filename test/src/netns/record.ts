// The record of one run: what it will create and which process owns it. Written before the first
// object exists (so a SIGKILL at any point leaves a record behind), removed after the last object
// is gone. `sweepStale()` tears down runs whose owner is dead, and only those, so concurrent runs
// coexist. Teardown is one code path used by `World.destroy()`, the sweeper and the exit reaper.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { testbedError } from "./errors.js";
import { execCapture } from "./exec.js";
import { isSameProcessAlive, processStartTime } from "./host.js";

export const DEFAULT_RECORD_DIR = "/run/weft-testbed";

export interface RecordedProcess {
  readonly pid: number;
  readonly startTime: number | undefined;
  readonly name: string;
}

export interface RunRecord {
  readonly version: 1;
  readonly runId: string;
  readonly prefix: string;
  /** The process that built the world; the run is stale once it is gone. */
  readonly pid: number;
  readonly pidStartTime: number | undefined;
  readonly createdAt: string;
  readonly netns: readonly string[];
  /** Leaf cgroups first, the run's root cgroup last (the order rmdir needs). */
  readonly cgroups: readonly string[];
  readonly tmpDir: string | undefined;
  readonly processes: readonly RecordedProcess[];
  /**
   * Other files or directories the run owns (e.g. a mesh's bpffs pin roots and config dirs),
   * removed recursively once its processes are stopped.
   */
  readonly paths?: readonly string[];
}

export function recordPath(recordDir: string, runId: string): string {
  return join(recordDir, `${runId}.json`);
}

/** Creates the record exclusively: an existing record means the run id is taken. */
export async function createRecord(recordDir: string, record: RunRecord): Promise<void> {
  await mkdir(recordDir, { recursive: true, mode: 0o755 });
  try {
    await writeFile(recordPath(recordDir, record.runId), JSON.stringify(record, null, 2), { flag: "wx" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw testbedError(
        "WEFT_E_NAME_COLLISION",
        `run id ${record.runId} is already recorded in ${recordPath(recordDir, record.runId)}`,
        "omit runId to get a fresh one, or run sweepStale() if that run is dead",
        { runId: record.runId },
      );
    }
    throw e;
  }
}

/** Atomic replace, so a reader never sees half a record. */
export async function updateRecord(recordDir: string, record: RunRecord): Promise<void> {
  const path = recordPath(recordDir, record.runId);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2));
  await rename(tmp, path);
}

export async function readRecords(recordDir: string): Promise<RunRecord[]> {
  let names: string[];
  try {
    names = await readdir(recordDir);
  } catch {
    return [];
  }
  const records: RunRecord[] = [];
  for (const name of names) {
    if (!/^[0-9a-f]{6}\.json$/.test(name)) continue;
    try {
      records.push(JSON.parse(await readFile(join(recordDir, name), "utf8")) as RunRecord);
    } catch {
      // A record being replaced or half-written by a live run; the next sweep sees it whole.
    }
  }
  return records;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
}

/** SIGTERM, then SIGKILL after `graceMs` for whatever is still the same live process. */
export async function stopProcesses(procs: readonly RecordedProcess[], graceMs: number): Promise<void> {
  const alive = async (p: RecordedProcess): Promise<boolean> => isSameProcessAlive(p.pid, p.startTime);
  const signal = async (p: RecordedProcess, sig: NodeJS.Signals): Promise<void> => {
    if (!(await alive(p))) return;
    try {
      process.kill(p.pid, sig);
    } catch {
      // Exited between the check and the signal.
    }
  };
  await Promise.all(procs.map((p) => signal(p, "SIGTERM")));
  const allGone = async (): Promise<boolean> => (await Promise.all(procs.map(alive))).every((a) => !a);
  if (await waitUntil(allGone, graceMs)) return;
  await Promise.all(procs.map((p) => signal(p, "SIGKILL")));
  await waitUntil(allGone, 2000);
}

async function cgroupPids(dir: string): Promise<number[]> {
  try {
    const text = await readFile(join(dir, "cgroup.procs"), "utf8");
    return text
      .split("\n")
      .filter((l) => l !== "")
      .map(Number);
  } catch {
    return [];
  }
}

/** Kills everything left in a cgroup (cgroup.kill where the kernel has it) and removes it. */
export async function removeCgroup(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  try {
    await writeFile(join(dir, "cgroup.kill"), "1");
  } catch {
    // Kernels before 5.14 have no cgroup.kill: signal each member instead.
    for (const pid of await cgroupPids(dir)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  // rmdir fails with EBUSY until the killed processes have exited (not just been signalled).
  let lastError: unknown;
  const removed = await waitUntil(async () => {
    try {
      await rmdir(dir);
      return true;
    } catch (e) {
      lastError = e;
      return (e as NodeJS.ErrnoException).code === "ENOENT";
    }
  }, 3000);
  if (!removed) throw lastError;
}

async function deleteNetns(names: readonly string[]): Promise<void> {
  const present = names.filter((n) => existsSync(`/run/netns/${n}`));
  if (present.length === 0) return;
  const r = await execCapture(
    "ip",
    ["-force", "-batch", "-"],
    present.map((n) => `netns del ${n}`).join("\n") + "\n",
  );
  const left = present.filter((n) => existsSync(`/run/netns/${n}`));
  if (left.length > 0) throw new Error(`ip netns del left ${left.join(", ")}: ${r.stderr.trim()}`);
}

/**
 * Removes everything a record lists, in dependency order, continuing past failures; throws one
 * error listing what could not be removed. Safe to call again (missing objects are skipped).
 */
export async function teardownRecord(recordDir: string, record: RunRecord, graceMs = 1500): Promise<void> {
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<void>): Promise<void> => {
    try {
      await step();
    } catch (e) {
      failures.push(`${what}: ${(e as Error).message}`);
    }
  };
  await attempt("stop processes", () => stopProcesses(record.processes, graceMs));
  for (const path of record.paths ?? []) {
    await attempt(`remove ${path}`, () => rm(path, { recursive: true, force: true }));
  }
  for (const cg of record.cgroups) await attempt(`remove cgroup ${cg}`, () => removeCgroup(cg));
  await attempt("delete netns", () => deleteNetns(record.netns));
  if (record.tmpDir !== undefined) {
    const tmpDir = record.tmpDir;
    await attempt(`remove ${tmpDir}`, () => rm(tmpDir, { recursive: true, force: true }));
  }
  if (failures.length > 0) {
    throw testbedError(
      "WEFT_E_INTERNAL",
      `teardown of testbed run ${record.runId} was incomplete: ${failures.join("; ")}`,
      `inspect the leftovers, remove them by hand, then delete ${recordPath(recordDir, record.runId)}`,
      { failures },
    );
  }
  await rm(recordPath(recordDir, record.runId), { force: true });
}

/** True when the run's creating process is gone (or its PID now names a different process). */
export async function isStale(record: RunRecord): Promise<boolean> {
  return !(await isSameProcessAlive(record.pid, record.pidStartTime));
}

export interface SweepOptions {
  readonly recordDir?: string;
}

/**
 * Removes the objects of earlier runs whose creating process is dead. Runs whose creator is alive,
 * including concurrent test processes, are left alone. Returns the run ids swept.
 */
export async function sweepStale(opts: SweepOptions = {}): Promise<string[]> {
  const recordDir = opts.recordDir ?? DEFAULT_RECORD_DIR;
  const swept: string[] = [];
  const failed: Error[] = [];
  for (const record of await readRecords(recordDir)) {
    if (!(await isStale(record))) continue;
    try {
      await teardownRecord(recordDir, record, 200);
      swept.push(record.runId);
    } catch (e) {
      failed.push(e as Error); // keep sweeping the other runs; report all failures at the end
    }
  }
  const [only] = failed;
  if (failed.length === 1 && only !== undefined) throw only;
  if (failed.length > 1) {
    throw testbedError(
      "WEFT_E_INTERNAL",
      `sweeping ${failed.length} stale testbed runs was incomplete: ${failed.map((e) => e.message).join("; ")}`,
      "remove the listed leftovers by hand, then delete their records",
    );
  }
  return swept;
}

export async function ownIdentity(): Promise<{ pid: number; pidStartTime: number | undefined }> {
  return { pid: process.pid, pidStartTime: await processStartTime(process.pid) };
}
