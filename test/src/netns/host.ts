// Facts about the host the testbed needs (privileges, the cgroup v2 mount), parsed by pure
// functions from the text of /proc files so they are table-tested without a special machine.
import { readFile } from "node:fs/promises";
import { testbedError, type WeftError } from "./errors.js";

/** Capability bits the testbed uses, with what each is for (for the error message). */
export const REQUIRED_CAPABILITIES = [
  { bit: 12, name: "CAP_NET_ADMIN", why: "create veths, bridges, addresses and routes" },
  { bit: 21, name: "CAP_SYS_ADMIN", why: "create and enter network namespaces, write cgroups" },
  { bit: 5, name: "CAP_KILL", why: "stop the processes started in pods" },
] as const;

export interface Privileges {
  readonly uid: number;
  /** CapEff from /proc/self/status. */
  readonly capEff: bigint;
}

/** Undefined when the testbed can run; otherwise one error naming everything that is missing. */
export function capabilityProblem(p: Privileges): WeftError | undefined {
  const missing: string[] = [];
  if (p.uid !== 0) missing.push(`root (uid is ${p.uid})`);
  for (const cap of REQUIRED_CAPABILITIES) {
    if ((p.capEff & (1n << BigInt(cap.bit))) === 0n) missing.push(`${cap.name} (to ${cap.why})`);
  }
  if (missing.length === 0) return undefined;
  return testbedError(
    "WEFT_E_CAPABILITY",
    `the netns testbed cannot run: missing ${missing.join(", ")}`,
    "run as root (e.g. sudo) in a container or VM that grants CAP_NET_ADMIN and CAP_SYS_ADMIN",
    { missing },
  );
}

export function parseCapEff(procStatus: string): bigint {
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(procStatus);
  return m?.[1] === undefined ? 0n : BigInt(`0x${m[1]}`);
}

export async function currentPrivileges(): Promise<Privileges> {
  const uid = process.getuid?.() ?? -1;
  const status = await readFile("/proc/self/status", "utf8");
  return { uid, capEff: parseCapEff(status) };
}

/** Throws WEFT_E_CAPABILITY when the current process cannot build a world. */
export async function assertCanBuildWorld(): Promise<void> {
  const problem = capabilityProblem(await currentPrivileges());
  if (problem !== undefined) throw problem;
}

/**
 * The cgroup v2 mount point from /proc/mounts text. On a hybrid host it is e.g.
 * /sys/fs/cgroup/unified; on a unified host /sys/fs/cgroup. Undefined when there is none.
 */
export function findCgroup2Mount(procMounts: string): string | undefined {
  for (const line of procMounts.split("\n")) {
    const [, mountPoint, fsType] = line.split(" ");
    if (fsType === "cgroup2" && mountPoint !== undefined) return unescapeMountPath(mountPoint);
  }
  return undefined;
}

// /proc/mounts writes space, tab, newline and backslash in paths as octal escapes.
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function cgroup2Mount(): Promise<string> {
  const mount = findCgroup2Mount(await readFile("/proc/mounts", "utf8"));
  if (mount === undefined) {
    throw testbedError(
      "WEFT_E_CAPABILITY",
      "no cgroup2 filesystem is mounted (checked /proc/mounts)",
      "mount one: mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified",
    );
  }
  return mount;
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
