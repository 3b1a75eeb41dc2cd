// Detached helper started from a process's 'exit' handler: waits for that process to be gone,
// then tears down the run it left behind. Usage: reaper.js <recordDir> <runId> <ownerPid>
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { processStartTime } from "./host.js";
import { isStale, recordPath, teardownRecord, type RunRecord } from "./record.js";

const [recordDir, runId, ownerPid] = process.argv.slice(2);
if (recordDir === undefined || runId === undefined || ownerPid === undefined) process.exit(2);

const deadline = Date.now() + 30_000;
while ((await processStartTime(Number(ownerPid))) !== undefined && Date.now() < deadline) await sleep(25);

try {
  const record = JSON.parse(await readFile(recordPath(recordDir, runId), "utf8")) as RunRecord;
  if (await isStale(record)) await teardownRecord(recordDir, record, 200);
} catch {
  // Record already gone (destroyed meanwhile) or unreadable: sweepStale() handles the rest.
}
