// Finding a pod's cgroup v2 directory, which connect4/6, sockops and getpeername attach to. The CNI
// plugin does not get it from the runtime, so the agent looks in this order:
//   1. an explicit path (CNI_ARGS WEFT_CGROUP=..., for runtimes without kubelet, e.g. the testbed);
//   2. kubelet's pod cgroup, named after the pod UID: ".../pod<uid>" (cgroupfs driver) or
//      ".../kubepods-<qos>-pod<uid_with_underscores>.slice" (systemd driver). Kubelet creates it
//      before it asks the runtime for the sandbox, so it exists when CNI ADD runs — unlike any
//      process in the netns: containerd calls CNI before it starts the pause container;
//   3. the cgroup of a process already in the netns (a /proc/*/ns/net inode match), walked up to
//      the pod-level directory when it is a container's cgroup below "pod<uid>".
import { readFileSync, readdirSync, statSync, type Dirent } from "node:fs";
import { join } from "node:path";

/** Directory names kubelet gives the cgroup of the pod with `uid` (both cgroup drivers). */
export function podCgroupNames(uid: string): { exact: string[]; systemdSuffix: string } {
  const underscored = uid.replaceAll("-", "_");
  return { exact: [`pod${uid}`, `pod${underscored}`], systemdSuffix: `-pod${underscored}.slice` };
}

export function isPodCgroupName(name: string, uid: string): boolean {
  const { exact, systemdSuffix } = podCgroupNames(uid);
  return exact.includes(name) || name.endsWith(systemdSuffix);
}

/** The cgroup v2 path in /proc/<pid>/cgroup text ("0::/a/b"), or undefined on a v1-only host. */
export function parseProcCgroup(text: string): string | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("0::")) return line.slice(3).trim();
  }
  return undefined;
}

/** The deepest ancestor-or-self of `path` that is the pod's cgroup, or `path` when none is. */
export function podLevel(path: string, uid: string | undefined): string {
  if (uid === undefined) return path;
  const parts = path.split("/");
  for (let i = parts.length; i > 0; i--) {
    if (isPodCgroupName(parts[i - 1] ?? "", uid)) return parts.slice(0, i).join("/") || "/";
  }
  return path;
}

/** Breadth-first search for kubelet's pod cgroup under `root` (kubepods sits a few levels down). */
export function findPodCgroup(root: string, uid: string, maxDepth = 5): string | undefined {
  let level = [root];
  for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue; // raced with a removal, or unreadable: not where the pod is
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const path = join(dir, e.name);
        if (isPodCgroupName(e.name, uid)) return path;
        next.push(path);
      }
    }
    level = next;
  }
  return undefined;
}

/** PIDs whose network namespace is inode `ino`. */
export function pidsInNetns(ino: number, proc = "/proc"): number[] {
  const out: number[] = [];
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (statSync(join(proc, name, "ns", "net")).ino === ino) out.push(Number(name));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

/** The cgroup (absolute path under `cgroupMount`) of some process in the netns at `netnsPath`. */
export function cgroupOfNetns(
  netnsPath: string,
  cgroupMount: string,
  uid?: string,
  proc = "/proc",
): string | undefined {
  const ino = statSync(netnsPath).ino;
  for (const pid of pidsInNetns(ino, proc)) {
    let text: string;
    try {
      text = readFileSync(join(proc, String(pid), "cgroup"), "utf8");
    } catch {
      continue;
    }
    const rel = parseProcCgroup(text);
    if (rel === undefined || rel === "/") continue; // the root cgroup is no pod's
    return podLevel(join(cgroupMount, rel), uid);
  }
  return undefined;
}
