// Running host tools (iproute2). Failures become one WeftError carrying the command and its stderr.
import { spawn } from "node:child_process";
import { testbedError } from "./errors.js";

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion, optionally feeding stdin; never throws for a non-zero exit. */
export function execCapture(command: string, args: readonly string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
    child.stdin.on("error", () => undefined); // a tool that exits early closes its stdin: not our error
    child.stdin.end(input ?? "");
  });
}

/** Runs a command and returns stdout; a non-zero exit throws WEFT_E_INTERNAL with the details. */
export async function execOk(command: string, args: readonly string[], input?: string): Promise<string> {
  const r = await execCapture(command, args, input);
  if (r.code !== 0) {
    const shown = [command, ...args].join(" ");
    throw testbedError(
      "WEFT_E_INTERNAL",
      `\`${shown}\` failed (exit ${r.code ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}` +
        (input ? `\n--- stdin ---\n${input}` : ""),
      "check that iproute2 is installed and the host allows network namespaces; the stderr above says more",
      { command: shown, stderr: r.stderr },
    );
  }
  return r.stdout;
}

/** `ip [-n netns] -batch -` with the given lines: one process for many link/address/route changes. */
export async function ipBatch(netns: string | undefined, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const args = netns === undefined ? ["-batch", "-"] : ["-n", netns, "-batch", "-"];
  await execOk("ip", args, lines.join("\n") + "\n");
}
