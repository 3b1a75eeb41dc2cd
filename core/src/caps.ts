// Privilege and kernel-facility checks, run at startup so a missing capability fails with the
// exact remedy instead of an EPERM deep inside a bpf() or setns() call. Parsers take the file text
// as an argument so they are pure and testable with samples from other machines.
import { readFileSync } from "node:fs";
import { weftError } from "./errors.js";

/** Linux capability numbers (include/uapi/linux/capability.h). */
export const CAPABILITIES = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
} as const;

export type CapabilityName = keyof typeof CAPABILITIES;

const NAME_BY_BIT = new Map<number, CapabilityName>(
  Object.entries(CAPABILITIES).map(([name, bit]) => [bit, name as CapabilityName]),
);

/**
 * The effective capabilities (CapEff) in `/proc/<pid>/status` text, by name. Bits this table does
 * not know yet appear as "CAP_<bit>". Reads /proc/self/status when no text is given.
 */
export function readCapabilities(statusText?: string): ReadonlySet<string> {
  const text = statusText ?? readFileSync("/proc/self/status", "utf8");
  const match = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  if (match?.[1] === undefined) {
    throw weftError("WEFT_E_INTERNAL", "no CapEff line in the process status text", undefined, {
      fix: "run on Linux with /proc mounted",
    });
  }
  let mask = BigInt(`0x${match[1]}`);
  const held = new Set<string>();
  for (let bit = 0; mask !== 0n; bit++, mask >>= 1n) {
    if ((mask & 1n) === 1n) held.add(NAME_BY_BIT.get(bit) ?? `CAP_${bit}`);
  }
  return held;
}

// Kernels accept CAP_SYS_ADMIN in place of CAP_BPF and CAP_PERFMON (bpf_capable(), perfmon_capable()),
// and kernels before 5.8 know only CAP_SYS_ADMIN, where root's CapEff lacks bits 38 and 39.
const SATISFIED_BY: Partial<Record<CapabilityName, CapabilityName>> = {
  CAP_BPF: "CAP_SYS_ADMIN",
  CAP_PERFMON: "CAP_SYS_ADMIN",
};

/** The subset of `required` that `held` does not provide, in the order given. */
export function missingCapabilities(
  required: readonly CapabilityName[],
  held: ReadonlySet<string>,
): CapabilityName[] {
  return required.filter((name) => {
    if (held.has(name)) return false;
    const alternative = SATISFIED_BY[name];
    return alternative === undefined || !held.has(alternative);
  });
}

function joinAnd(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/**
 * Throws WEFT_E_CAPABILITY naming exactly the missing capabilities when the process cannot do
 * `what` (e.g. "attach sk_lookup programs"). `held` defaults to this process's CapEff.
 */
export function requireCapabilities(
  required: readonly CapabilityName[],
  what: string,
  held: ReadonlySet<string> = readCapabilities(),
): void {
  const missing = missingCapabilities(required, held);
  if (missing.length === 0) return;
  throw weftError(
    "WEFT_E_CAPABILITY",
    `cannot ${what}: missing ${joinAnd(missing)}`,
    { missing, required },
    {
      fix:
        `run as root or grant ${joinAnd(missing)} ` +
        "(setcap, systemd AmbientCapabilities, or securityContext.capabilities.add in Kubernetes)",
    },
  );
}

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string[];
}

// /proc/mounts escapes space, tab, newline and backslash in paths as 3-digit octal (\040 etc.).
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/mounts (or /proc/self/mounts) text. */
export function parseMounts(mountsText: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of mountsText.split("\n")) {
    const [source, target, fstype, options] = line.trim().split(/\s+/);
    if (source === undefined || target === undefined || fstype === undefined) continue;
    out.push({
      source: unescapeMountField(source),
      target: unescapeMountField(target),
      fstype,
      options: options === undefined ? [] : options.split(","),
    });
  }
  return out;
}

function readMounts(mountsText: string | undefined): MountEntry[] {
  return parseMounts(mountsText ?? readFileSync("/proc/mounts", "utf8"));
}

/**
 * Where cgroup v2 is mounted: /sys/fs/cgroup on pure-v2 hosts, /sys/fs/cgroup/unified on hybrid
 * ones. Throws WEFT_E_CAPABILITY when there is none (weft attaches connect4/6 to a cgroup v2 dir).
 */
export function findCgroup2Mount(mountsText?: string): string {
  const mounts = readMounts(mountsText).filter((m) => m.fstype === "cgroup2");
  // Prefer the canonical locations when a container runtime has mounted cgroup2 again elsewhere.
  const preferred = mounts.find(
    (m) => m.target === "/sys/fs/cgroup" || m.target === "/sys/fs/cgroup/unified",
  );
  const found = preferred ?? mounts[0];
  if (found === undefined) {
    throw weftError("WEFT_E_CAPABILITY", "no cgroup v2 (cgroup2) filesystem is mounted", undefined, {
      fix:
        "mount it (mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified) " +
        "or boot with systemd.unified_cgroup_hierarchy=1",
    });
  }
  return found.target;
}

function normalizePath(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

/** Whether a bpf filesystem (for pinning maps and links) is mounted exactly at `path`. */
export function isBpffsMounted(path = "/sys/fs/bpf", mountsText?: string): boolean {
  const want = normalizePath(path);
  return readMounts(mountsText).some((m) => m.fstype === "bpf" && normalizePath(m.target) === want);
}
