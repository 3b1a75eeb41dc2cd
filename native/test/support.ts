// Shared fixtures for @weft/native's tests: privilege gate, paths of the built objects, and
// throwaway network namespaces, cgroups and pin roots that are always removed again.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, rmdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { findCgroup2Mount } from "@weft/core";
import { isOnBpffs } from "@weft/native";

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root, from native/dist/test (compiled) or native/test. */
export const REPO =
  [resolve(here, "../../.."), resolve(here, "../..")].find((p) => existsSync(join(p, "bpf", "Makefile"))) ??
  resolve(here, "../../..");
export const BPF_OUT = join(REPO, "bpf", "out");
export const NODE = process.execPath;

export function bpfObject(name: string): string {
  return join(BPF_OUT, `${name}.bpf.o`);
}

const CI = process.env.CI === "true";

/**
 * Skip (printing why) when the machine cannot run this suite; under CI=true fail instead, because
 * CI must run everything. Returns true when the suite may run.
 */
export function capable(t: TestContext, reason: string | undefined): boolean {
  if (reason === undefined) return true;
  if (CI) throw new Error(`cannot run on CI: ${reason}`);
  console.log(`# skipped: ${reason}`);
  t.skip(reason);
  return false;
}

/** Why root suites cannot run here, or undefined. */
export function rootMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)";
  if (!existsSync(bpfObject("connect"))) return `bpf objects are not built (${BPF_OUT}): run make -C bpf`;
  if (!existsSync(join(REPO, "native", "build", "weft_native.node"))) {
    return "the native addon is not built: run npm run -w @weft/native build:native";
  }
  return undefined;
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function suffix(): string {
  return randomBytes(3).toString("hex");
}

/** Mount bpffs at /sys/fs/bpf if nothing is mounted there (left mounted: it is shared). */
export function ensureBpffs(): void {
  const mounts = readFileSync("/proc/mounts", "utf8");
  if (!/^\S+ \/sys\/fs\/bpf bpf /m.test(mounts)) sh("mount", ["-t", "bpf", "bpf", "/sys/fs/bpf"]);
  if (!isOnBpffs("/sys/fs/bpf")) throw new Error("/sys/fs/bpf is not bpffs after mounting");
}

/** Cleanup actions run in reverse order, each even if an earlier one failed. */
export class Cleanup {
  readonly #steps: (() => void)[] = [];

  add(step: () => void): void {
    this.#steps.push(step);
  }

  run(): void {
    const errors: unknown[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) console.log(`# cleanup errors: ${errors.map(String).join("; ")}`);
  }
}

/** A per-test pin root under bpffs. */
export function makePinRoot(cleanup: Cleanup): string {
  ensureBpffs();
  const root = `/sys/fs/bpf/weft-t-${suffix()}`;
  mkdirSync(root);
  cleanup.add(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** A named netns with lo up; returns its /run/netns path. */
export function makeNetns(cleanup: Cleanup, name = `weft-t-${suffix()}`): { name: string; path: string } {
  sh("ip", ["netns", "add", name]);
  cleanup.add(() => sh("ip", ["netns", "del", name]));
  sh("ip", ["-n", name, "link", "set", "lo", "up"]);
  return { name, path: `/run/netns/${name}` };
}

/** A pod-like cgroup v2 directory. */
export function makeCgroup(cleanup: Cleanup): string {
  const dir = join(findCgroup2Mount(), `weft-t-${suffix()}`);
  mkdirSync(dir);
  cleanup.add(() => rmdirSync(dir));
  return dir;
}

/**
 * Run `node -e code ...args` as a process inside `cgroup` and `netns` (joined before the program
 * starts, so every socket it makes is subject to the cgroup's programs). Resolves with stdout.
 */
export function runInPod(
  cgroup: string,
  netns: string,
  code: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      "sh",
      [
        "-c",
        'echo $$ > "$1/cgroup.procs" && shift && exec ip netns exec "$@"',
        "sh",
        cgroup,
        netns,
        NODE,
        "-e",
        code,
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(out);
      else reject(new Error(`pod process exited ${code}: ${err || out}`));
    });
  });
}

/** Poll `check` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
