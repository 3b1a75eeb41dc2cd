// Facts about the host the testbed needs (privileges, the cgroup v2 mount, process identity).
// Decisions are pure functions of /proc text so they are table-tested without a special machine;
// capability parsing and the cgroup2 mount lookup are @weft/core's.
import { readFile } from "node:fs/promises";
import { findCgroup2Mount, missingCapabilities, readCapabilities, type CapabilityName } from "@weft/core";
import { testbedError, type WeftError } from "./errors.js";

/** Capabilities the testbed uses, with what each is for (for the error message). */
export const REQUIRED_CAPABILITIES: readonly { name: CapabilityName; why: string }[] = [
  { name: "CAP_NET_ADMIN", why: "create veths, bridges, addresses and routes" },
  { name: "CAP_SYS_ADMIN", why: "create and enter network namespaces, write cgroups" },
  { name: "CAP_KILL", why: "stop the processes started in pods" },
];

export interface Privileges {
  readonly uid: number;
  /** Effective capabilities by name, as core's readCapabilities() returns them. */
  readonly capabilities: ReadonlySet<string>;
}

/** Undefined when the testbed can run; otherwise one error naming everything that is missing. */
export function capabilityProblem(p: Privileges): WeftError | undefined {
  const missing: string[] = [];
  if (p.uid !== 0) missing.push(`root (uid is ${p.uid})`);
  const lacking = new Set(
    missingCapabilities(
      REQUIRED_CAPABILITIES.map((c) => c.name),
      p.capabilities,
    ),
  );
  for (const cap of REQUIRED_CAPABILITIES) {
    if (lacking.has(cap.name)) missing.push(`${cap.name} (to ${cap.why})`);
  }
  if (missing.length === 0) return undefined;
  return testbedError(
    "WEFT_E_CAPABILITY",
    `the netns testbed cannot run: missing ${missing.join(", ")}`,
    "run as root (e.g. sudo) in a container or VM that grants CAP_NET_ADMIN and CAP_SYS_ADMIN",
    { missing },
  );
}

export function currentPrivileges(): Privileges {
  return { uid: process.getuid?.() ?? -1, capabilities: readCapabilities() };
}

/** Throws WEFT_E_CAPABILITY when the current process cannot build a world. */
export function assertCanBuildWorld(): void {
  const problem = capabilityProblem(currentPrivileges());
  if (problem !== undefined) throw problem;
}

/** The cgroup v2 mount (e.g. /sys/fs/cgroup/unified on a hybrid host); WEFT_E_CAPABILITY if none. */
export function cgroup2Mount(): string {
  return findCgroup2Mount();
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks; with the PID it names one process. */
export function parseStartTime(procStat: string): number | undefined {
  // The command name (field 2) is in parentheses and may hold spaces; fields restart after ')'.
  const rest = procStat.slice(procStat.lastIndexOf(")") + 2).split(" ");
  const start = Number(rest[19]);
  return Number.isFinite(start) ? start : undefined;
}

export function parseStatPpid(procStat: string): number | undefined {
  const rest = procStat.slice(procStat.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(rest[1]);
  return Number.isFinite(ppid) ? ppid : undefined;
}

/** Start time of a live (non-zombie) process, or undefined when it is gone. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return undefined;
    return parseStartTime(stat);
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and is the same process as when `startTime` was recorded. */
export async function isSameProcessAlive(pid: number, startTime: number | undefined): Promise<boolean> {
  const now = await processStartTime(pid);
  return now !== undefined && (startTime === undefined || now === startTime);
}
