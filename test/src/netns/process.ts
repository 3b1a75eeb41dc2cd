// Processes started inside a pod (its netns and its cgroup) or on a node, with logs in files.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { testbedError } from "./errors.js";

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Logs {
  readonly stdout: string;
  readonly stderr: string;
}

/** Where a process runs: a netns plus the cgroup v2 directory it joins before exec. */
export interface Placement {
  /** Pod or node name, for log file names and messages. */
  readonly label: string;
  readonly netns: string;
  readonly cgroup: string;
}

export interface SpawnOptions {
  /** Short name for the log files; defaults to the command's base name. */
  readonly name?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * The shell wrapper joins the cgroup first and then execs `ip netns exec`, which execs the command
 * without forking: the PID we get back is the app's own PID, and the app is in its pod cgroup
 * before its first instruction (so cgroup-attached BPF programs see every socket it makes).
 * Exit code 97 means the cgroup write failed.
 */
const WRAPPER = 'echo $$ > "$1" || exit 97; ns=$2; shift 2; exec ip netns exec "$ns" "$@"';

export class PodProcess {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  #status: ExitStatus | undefined;

  constructor(
    readonly name: string,
    readonly placement: Placement,
    readonly stdoutPath: string,
    readonly stderrPath: string,
    readonly child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error("spawn returned no pid");
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#status = { code, signal };
        resolve(this.#status);
      });
    });
  }

  /** Undefined while running. */
  get status(): ExitStatus | undefined {
    return this.#status;
  }

  async logs(): Promise<Logs> {
    const [stdout, stderr] = await Promise.all([
      readFile(this.stdoutPath, "utf8").catch(() => ""),
      readFile(this.stderrPath, "utf8").catch(() => ""),
    ]);
    return { stdout, stderr };
  }

  /** Resolves with the first stdout line matching; rejects on exit or timeout with the logs. */
  async waitForLine(match: RegExp | string, timeoutMs = 10_000): Promise<string> {
    const test = (line: string): boolean =>
      typeof match === "string" ? line.includes(match) : match.test(line);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { stdout, stderr } = await this.logs();
      const line = stdout.split("\n").find(test);
      if (line !== undefined) return line;
      if (this.#status !== undefined || Date.now() > deadline) {
        const why =
          this.#status !== undefined
            ? `exited (${JSON.stringify(this.#status)})`
            : `timed out after ${timeoutMs} ms`;
        throw testbedError(
          "WEFT_E_UNAVAILABLE",
          `${this.name} in ${this.placement.label} ${why} before printing ${String(match)}; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`,
          `read the logs in ${this.stdoutPath} and ${this.stderrPath}`,
        );
      }
      await sleep(15);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 1500): Promise<ExitStatus> {
    if (this.#status !== undefined) return this.#status;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function spawnPlaced(
  placement: Placement,
  logDir: string,
  seq: number,
  command: string,
  args: readonly string[],
  opts: SpawnOptions = {},
): PodProcess {
  const name = opts.name ?? command.split("/").pop() ?? command;
  const base = join(logDir, `${placement.label}.${name}.${seq}`);
  const stdoutPath = `${base}.stdout.log`;
  const stderrPath = `${base}.stderr.log`;
  const out = openSync(stdoutPath, "w");
  const err = openSync(stderrPath, "w");
  try {
    const child = spawn(
      "sh",
      ["-c", WRAPPER, name, join(placement.cgroup, "cgroup.procs"), placement.netns, command, ...args],
      { stdio: ["ignore", out, err], env: opts.env, cwd: opts.cwd },
    );
    return new PodProcess(name, placement, stdoutPath, stderrPath, child);
  } finally {
    closeSync(out);
    closeSync(err);
  }
}
