// Shared pieces of the redirection suites: a probe client run inside pods, throwaway pin roots and
// state dirs that are always removed, and a snapshot of bpffs to prove nothing leaked.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { World } from "@weft/test";

/**
 * A client app: connects to argv host:port, prints what getpeername/getsockname say and the first
 * line the server sent (or the error, or "timeout"), then leaves.
 */
export const PROBE_CLIENT = `
const net = require("net");
const [host, port, wait] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3] || 3000)];
const s = net.connect({ host, port });
let done = false;
const finish = (o) => { if (done) return; done = true; process.stdout.write(JSON.stringify(o) + "\\n"); s.destroy(); process.exit(0); };
let buf = "";
s.on("data", (d) => {
  buf += d;
  const nl = buf.indexOf("\\n");
  if (nl >= 0) finish({ localPort: s.localPort, remoteAddress: s.remoteAddress, remotePort: s.remotePort, line: buf.slice(0, nl) });
});
s.on("error", (e) => finish({ error: e.code || e.message }));
s.on("end", () => finish({ error: "closed", localPort: s.localPort, remoteAddress: s.remoteAddress, remotePort: s.remotePort }));
setTimeout(() => finish({ error: "timeout" }), wait);
`;

export interface ProbeResult {
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
  line?: string;
  error?: string;
}

export async function probe(
  world: World,
  pod: string,
  host: string,
  port: number,
  waitMs = 3000,
): Promise<ProbeResult> {
  const r = await world.runInPod(
    pod,
    process.execPath,
    ["-e", PROBE_CLIENT, host, String(port), String(waitMs)],
    {
      name: "probe",
      timeoutMs: waitMs + 5000,
    },
  );
  const last = r.stdout.trim().split("\n").pop() ?? "";
  if (!last.startsWith("{")) throw new Error(`probe in ${pod} printed nothing: ${r.stderr}`);
  return JSON.parse(last) as ProbeResult;
}

/** A pin root under bpffs for one test run, and a state dir; `remove()` deletes both. */
export function scratch(): { pinRoot: string; stateDir: string; remove(): void } {
  const pinRoot = `/sys/fs/bpf/weft-test-${randomBytes(4).toString("hex")}`;
  const stateDir = mkdtempSync(join(tmpdir(), "weft-redirect-state-"));
  return {
    pinRoot,
    stateDir,
    remove: () => {
      rmSync(pinRoot, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Entries of bpffs other than other runs' pin roots (which come and go in parallel). */
export function bpffsSnapshot(): string[] {
  return existsSync("/sys/fs/bpf")
    ? readdirSync("/sys/fs/bpf").filter((n) => !n.startsWith("weft-test-") && !n.startsWith("weft-t-"))
    : [];
}

/** Every file below `dir` (relative), for "nothing left behind" checks. */
export function filesBelow(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

/** Lines of a PodProcess's stdout that are JSON events of the given kind. */
export function events(stdout: string, event: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((o) => o["event"] === event);
}

/** The first line a probe got: a capture handler's {via} or tcp-echo's {peer, local}. */
export interface ProbeLine {
  via?: string;
  peer?: { address: string; port: number };
  local?: { address: string; port: number };
}

export function lineOf(r: ProbeResult): ProbeLine {
  return r.line === undefined ? {} : (JSON.parse(r.line) as ProbeLine);
}
