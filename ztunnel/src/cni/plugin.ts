// weft's CNI plugin (CNI spec 1.0/1.1, and 0.4.0), chained after the plugin that gives the pod its
// interface and IPs (e.g. bridge + host-local). ADD hands the pod to the node agent and succeeds
// only once the agent reports redirection in place, so a pod never starts uncaptured; DEL is
// idempotent and succeeds even with the agent down (the agent garbage-collects pins of pods whose
// netns is gone); CHECK asks the agent whether the pod is captured; STATUS whether the agent is up.
//
// The plugin is a pure function of (environment, stdin, agent) → (stdout, exit code), table-tested
// with a fake agent; main.ts does the process I/O. No dependencies beyond node:http, for a fast start.
import type { CniEnvironment } from "../config.js";
import type { EnrollRequest, UnenrollRequest } from "../agent/protocol.js";

export const SUPPORTED_VERSIONS = ["0.4.0", "1.0.0", "1.1.0"] as const;
const LATEST = "1.1.0";

/** Error codes of the CNI spec ("Error codes"), plus weft's own (100+). */
export const CNI_ERROR = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  NOT_AVAILABLE: 50,
  /** The agent refused to enrol the pod (its message says why). */
  ENROL_REFUSED: 100,
  /** CHECK: the pod is not captured. */
  NOT_CAPTURED: 101,
} as const;

export const DEFAULT_AGENT_SOCKET = "/run/weft/cni.sock";
export const DEFAULT_TIMEOUT_MS = 10_000;

/** The agent as the plugin needs it (agent/client.ts implements it over the unix socket). */
export interface AgentPort {
  enroll(req: EnrollRequest): Promise<unknown>;
  unenroll(req: UnenrollRequest): Promise<unknown>;
  pod(uid: string): Promise<unknown>;
  health(): Promise<unknown>;
}

/** How the plugin tells a failed request from an unreachable agent. */
export interface AgentFailure {
  readonly kind: "unreachable" | "refused";
  readonly code?: string;
  readonly message: string;
}

export interface CniInput {
  readonly env: CniEnvironment;
  readonly stdin: string;
}

export interface CniOutput {
  readonly stdout: string;
  readonly exitCode: number;
  /** Diagnostics for the runtime's log (never on stdout, which is the result). */
  readonly stderr?: string;
}

/** weft-cni's own keys in the network configuration. */
export interface WeftCniConfig {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  readonly agentSocket: string;
  readonly timeoutMs: number;
  /** Pods in these namespaces are passed through uncaptured (Istio's default excludes kube-system). */
  readonly excludeNamespaces: readonly string[];
  readonly prevResult?: PrevResult;
}

export interface PrevResult {
  readonly cniVersion?: string;
  readonly ips?: readonly { address?: string }[];
  readonly [key: string]: unknown;
}

class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
  }
}

function output(version: string, result: unknown): CniOutput {
  return { stdout: JSON.stringify({ cniVersion: version, ...(result as object) }) + "\n", exitCode: 0 };
}

function errorOutput(version: string, err: CniError): CniOutput {
  const body: Record<string, unknown> = { cniVersion: version, code: err.code, msg: err.message };
  if (err.details !== undefined) body["details"] = err.details;
  return { stdout: JSON.stringify(body) + "\n", exitCode: 1 };
}

/** CNI_ARGS: "K=V;K2=V2" (spec: alphanumeric keys, semicolon separated). */
export function parseCniArgs(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** The pod's IPs from the previous plugin's result ("10.0.0.5/24" → "10.0.0.5"). */
export function ipsOf(prev: PrevResult | undefined): string[] {
  return (prev?.ips ?? [])
    .map((ip) => (typeof ip.address === "string" ? (ip.address.split("/")[0] ?? "") : ""))
    .filter((ip) => ip !== "");
}

export function parseConfig(stdin: string): WeftCniConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(
      CNI_ERROR.DECODE_FAILURE,
      `cannot decode the network configuration on stdin as JSON: ${(e as Error).message}`,
      "the runtime must pass the plugin's network configuration (with cniVersion, name, type) on stdin",
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(CNI_ERROR.DECODE_FAILURE, "the network configuration on stdin is not a JSON object");
  }
  const c = raw as Record<string, unknown>;
  const version = c["cniVersion"];
  if (typeof version !== "string") {
    throw new CniError(CNI_ERROR.INVALID_CONFIG, "the network configuration has no cniVersion string");
  }
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      CNI_ERROR.INCOMPATIBLE_VERSION,
      `weft-cni does not support CNI version ${version}`,
      `supported: ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  const str = (key: string, fallback?: string): string => {
    const v = c[key] ?? fallback;
    if (typeof v !== "string" || v === "") {
      throw new CniError(
        CNI_ERROR.INVALID_CONFIG,
        `the network configuration needs a non-empty string "${key}"`,
      );
    }
    return v;
  };
  const timeout = c["timeoutMs"] ?? DEFAULT_TIMEOUT_MS;
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout <= 0) {
    throw new CniError(
      CNI_ERROR.INVALID_CONFIG,
      `"timeoutMs" must be a positive integer, got ${JSON.stringify(timeout)}`,
    );
  }
  const exclude = c["excludeNamespaces"] ?? ["kube-system"];
  if (!Array.isArray(exclude) || exclude.some((n) => typeof n !== "string")) {
    throw new CniError(CNI_ERROR.INVALID_CONFIG, `"excludeNamespaces" must be a list of namespace names`);
  }
  const prev = c["prevResult"];
  if (prev !== undefined && (typeof prev !== "object" || prev === null)) {
    throw new CniError(CNI_ERROR.INVALID_CONFIG, `"prevResult" must be an object`);
  }
  return {
    cniVersion: version,
    name: str("name"),
    type: str("type"),
    agentSocket: str("agentSocket", DEFAULT_AGENT_SOCKET),
    timeoutMs: timeout,
    excludeNamespaces: exclude as string[],
    ...(prev !== undefined ? { prevResult: prev as PrevResult } : {}),
  };
}

function need(env: CniEnvironment, key: keyof CniEnvironment, name: string): string {
  const v = env[key];
  if (v === undefined || v === "") {
    throw new CniError(
      CNI_ERROR.INVALID_ENV,
      `${name} is not set`,
      "the runtime sets it for every call of a plugin",
    );
  }
  return v;
}

interface PodIdentity {
  uid: string;
  name: string;
  namespace: string;
  containerId: string;
  cgroupPath?: string;
}

function podOf(env: CniEnvironment): PodIdentity {
  const containerId = need(env, "containerId", "CNI_CONTAINERID");
  const args = parseCniArgs(env.args);
  const cgroup = args["WEFT_CGROUP"];
  return {
    // Without kubelet (no K8S_POD_UID) the sandbox id is the pod's identity.
    uid: args["K8S_POD_UID"] ?? containerId,
    name: args["K8S_POD_NAME"] ?? containerId,
    namespace: args["K8S_POD_NAMESPACE"] ?? "default",
    containerId,
    ...(cgroup !== undefined && cgroup !== "" ? { cgroupPath: cgroup } : {}),
  };
}

function agentError(err: unknown, doing: string): CniError {
  const f = describeFailure(err);
  if (f.kind === "unreachable") {
    return new CniError(
      CNI_ERROR.TRY_AGAIN_LATER,
      `cannot ${doing}: ${f.message}`,
      "start the weft node agent (ztunnel) on this node; the pod is not started uncaptured",
    );
  }
  const code = f.code === "WEFT_E_NOT_FOUND" ? CNI_ERROR.UNKNOWN_CONTAINER : CNI_ERROR.ENROL_REFUSED;
  return new CniError(code, `cannot ${doing}: ${f.message}`, f.code);
}

function describeFailure(err: unknown): AgentFailure {
  if (typeof err === "object" && err !== null && "name" in err) {
    const e = err as { name: string; message?: string; code?: string };
    if (e.name === "AgentUnreachable") return { kind: "unreachable", message: e.message ?? "" };
    if (e.name === "AgentError") {
      return { kind: "refused", ...(e.code !== undefined ? { code: e.code } : {}), message: e.message ?? "" };
    }
  }
  return { kind: "refused", message: err instanceof Error ? err.message : String(err) };
}

/** Run one plugin invocation. `agentFor` makes the agent client for the configured socket. */
export async function runCni(
  input: CniInput,
  agentFor: (socketPath: string, timeoutMs: number) => AgentPort,
): Promise<CniOutput> {
  let version = LATEST;
  try {
    const command = need(input.env, "command", "CNI_COMMAND");
    if (command === "VERSION") {
      // The input carries only cniVersion; answer in it when it is one we know.
      const asked = safeVersion(input.stdin);
      return output(asked ?? LATEST, { supportedVersions: SUPPORTED_VERSIONS });
    }
    const config = parseConfig(input.stdin);
    version = config.cniVersion;
    const agent = agentFor(config.agentSocket, config.timeoutMs);
    switch (command) {
      case "ADD":
        return await add(input.env, config, agent);
      case "DEL":
        return await del(input.env, config, agent);
      case "CHECK":
        return await check(input.env, config, agent);
      case "STATUS":
        try {
          await agent.health();
        } catch (err) {
          throw new CniError(
            CNI_ERROR.NOT_AVAILABLE,
            `the weft node agent is not ready: ${describeFailure(err).message}`,
          );
        }
        return { stdout: "", exitCode: 0 };
      case "GC":
        // The agent collects pods whose netns is gone by itself; nothing to do per attachment.
        return { stdout: "", exitCode: 0 };
      default:
        throw new CniError(
          CNI_ERROR.INVALID_ENV,
          `CNI_COMMAND ${command} is not one of ADD, DEL, CHECK, VERSION, STATUS, GC`,
        );
    }
  } catch (err) {
    if (err instanceof CniError) return errorOutput(version, err);
    return errorOutput(
      version,
      new CniError(CNI_ERROR.IO_FAILURE, err instanceof Error ? err.message : String(err)),
    );
  }
}

function safeVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === "string" && (SUPPORTED_VERSIONS as readonly string[]).includes(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function requirePrevResult(config: WeftCniConfig): PrevResult {
  if (config.prevResult === undefined) {
    throw new CniError(
      CNI_ERROR.INVALID_CONFIG,
      "weft-cni must be chained after a plugin that sets up the pod's interface and IPs (no prevResult)",
      'list weft-cni after e.g. "bridge" in the plugins of a .conflist',
    );
  }
  return config.prevResult;
}

async function add(env: CniEnvironment, config: WeftCniConfig, agent: AgentPort): Promise<CniOutput> {
  const prev = requirePrevResult(config);
  const pod = podOf(env);
  const netnsPath = need(env, "netns", "CNI_NETNS");
  const pass = { stdout: JSON.stringify(prev) + "\n", exitCode: 0 };
  if (config.excludeNamespaces.includes(pod.namespace)) {
    return { ...pass, stderr: `weft-cni: namespace ${pod.namespace} is excluded; pod not captured` };
  }
  const ips = ipsOf(prev);
  if (ips.length === 0) {
    throw new CniError(CNI_ERROR.INVALID_CONFIG, "the previous plugin's result has no IPs to capture");
  }
  try {
    await agent.enroll({ ...pod, netnsPath, ips });
  } catch (err) {
    throw agentError(err, `enrol pod ${pod.namespace}/${pod.name}`);
  }
  return pass; // only now: redirection is in place
}

async function del(env: CniEnvironment, config: WeftCniConfig, agent: AgentPort): Promise<CniOutput> {
  const pod = podOf(env);
  try {
    await agent.unenroll({ uid: pod.uid, containerId: pod.containerId });
    return { stdout: "", exitCode: 0 };
  } catch (err) {
    const f = describeFailure(err);
    // DEL must succeed when there is nothing left to do; with the agent down, its pins are
    // collected by the next agent once the netns is gone, so nothing is leaked.
    if (f.kind === "unreachable") return { stdout: "", exitCode: 0, stderr: `weft-cni: DEL: ${f.message}` };
    throw agentError(err, `unenrol pod ${pod.namespace}/${pod.name}`);
  }
}

async function check(env: CniEnvironment, config: WeftCniConfig, agent: AgentPort): Promise<CniOutput> {
  requirePrevResult(config);
  const pod = podOf(env);
  need(env, "netns", "CNI_NETNS");
  if (config.excludeNamespaces.includes(pod.namespace)) return { stdout: "", exitCode: 0 };
  let found: unknown;
  try {
    found = await agent.pod(pod.uid);
  } catch (err) {
    throw agentError(err, `check pod ${pod.namespace}/${pod.name}`);
  }
  if (found === undefined) {
    throw new CniError(
      CNI_ERROR.NOT_CAPTURED,
      `pod ${pod.namespace}/${pod.name} (${pod.uid}) is not captured by the weft node agent`,
      "recreate the pod, or check the agent's log for why it was released",
    );
  }
  return { stdout: "", exitCode: 0 };
}
