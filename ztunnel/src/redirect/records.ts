// Per-pod enrolment records (<stateDir>/<uid>.json) and pin directories (<pinRoot>/pods/<uid>/).
// bpffs holds only maps, programs and links, so what a restarted agent needs to re-create a pod's
// listeners (netns, IPs, cgroup) lives in a small JSON file next to it, written before the first
// pin and removed after the last, so no pin is ever without its record.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { weftError } from "@weft/core";
import type { PodRecord } from "./pod.js";

export function recordPath(stateDir: string, uid: string): string {
  return join(stateDir, `${uid}.json`);
}

export function podPinDir(pinRoot: string, uid: string): string {
  return join(pinRoot, "pods", uid);
}

export function writeRecord(stateDir: string, record: PodRecord): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = recordPath(stateDir, record.uid);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, path); // atomic: a crash leaves the old record or the new one, never half
}

export function readRecord(stateDir: string, uid: string): PodRecord | undefined {
  const path = recordPath(stateDir, uid);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const record = JSON.parse(text) as PodRecord;
    if (record.version !== 1 || record.uid !== uid) throw new Error("unexpected version or uid");
    return record;
  } catch (err) {
    throw weftError(
      "WEFT_E_INTERNAL",
      `pod record ${path} is unreadable: ${String(err)}`,
      { path },
      {
        fix: "remove the file; the agent then garbage-collects the pod's pins when its netns is gone",
      },
    );
  }
}

export function removeRecord(stateDir: string, uid: string): void {
  rmSync(recordPath(stateDir, uid), { force: true });
}

/** UIDs with a record or a pin directory (a crash between the two leaves only one of them). */
export function knownUids(stateDir: string, pinRoot: string): string[] {
  const uids = new Set<string>();
  if (existsSync(stateDir)) {
    for (const f of readdirSync(stateDir)) if (f.endsWith(".json")) uids.add(f.slice(0, -5));
  }
  const pods = join(pinRoot, "pods");
  if (existsSync(pods)) for (const d of readdirSync(pods)) uids.add(d);
  return [...uids].sort();
}

/** Pin file names present for a pod. */
export function pinnedNames(pinRoot: string, uid: string): string[] {
  const dir = podPinDir(pinRoot, uid);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}
