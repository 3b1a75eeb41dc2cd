// The real `weft-controller` as a child process on loopback, for suites that drive it over gRPC:
// start it on free ports, read its ports from its "serving" log line, stop it (SIGTERM, then
// SIGKILL after 10 s). Also the Pod YAML those suites write into its config dir.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const NODE = join(ROOT, "node_modules/.bin/node");
const MAIN = join(ROOT, "controller/dist/src/main.js");

export interface ControllerProcess {
  readonly proc: ChildProcess;
  /** `127.0.0.1:<port>` of xDS + CA. */
  readonly xds: string;
  /** `http://127.0.0.1:<port>` of the admin listener. */
  readonly admin: string;
  /** stdout lines (JSON logs) and stderr chunks, as they came. */
  readonly logs: string[];
}

export async function startControllerProcess(
  configDir: string,
  caDir: string,
  extraArgs: readonly string[] = [],
  timeoutMs = 15_000,
): Promise<ControllerProcess> {
  const proc = spawn(
    NODE,
    [
      MAIN,
      "--config-dir",
      configDir,
      "--ca-dir",
      caDir,
      "--xds-address",
      "127.0.0.1:0",
      "--admin-address",
      "127.0.0.1:0",
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WEFT_LOG_LEVEL: "info" } },
  );
  const logs: string[] = [];
  let ports: { xdsPort: number; adminPort: number } | undefined;
  let buffered = "";
  proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; xdsPort?: number; adminPort?: number };
        if (entry.msg === "weft-controller serving" && entry.xdsPort && entry.adminPort) {
          ports = { xdsPort: entry.xdsPort, adminPort: entry.adminPort };
        }
      } catch {
        /* not JSON */
      }
    }
  });
  proc.stderr.setEncoding("utf8").on("data", (chunk: string) => logs.push(`stderr: ${chunk}`));
  let exited = false;
  proc.once("exit", () => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (ports === undefined) {
    if (exited) throw new Error(`controller exited during start:\n${logs.join("\n")}`);
    if (Date.now() > deadline) {
      await stopProcess(proc);
      throw new Error(`timed out waiting for the controller to start serving:\n${logs.join("\n")}`);
    }
    await sleep(20);
  }
  return { proc, xds: `127.0.0.1:${ports.xdsPort}`, admin: `http://127.0.0.1:${ports.adminPort}`, logs };
}

/** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. */
export async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  process.kill(proc.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, "SIGKILL");
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

/** A running, ready Pod for the file source. */
export function podYaml(p: {
  readonly name: string;
  readonly ip: string;
  readonly namespace?: string;
  readonly serviceAccount?: string;
  readonly nodeName?: string;
}): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${p.name}
  namespace: ${p.namespace ?? "shop"}
  labels: { app: ${p.name} }
spec:
  nodeName: ${p.nodeName ?? "node-a"}
  serviceAccountName: ${p.serviceAccount ?? "default"}
  containers: [{ name: app }]
status:
  phase: Running
  podIP: ${p.ip}
  conditions: [{ type: Ready, status: "True" }]
`;
}
