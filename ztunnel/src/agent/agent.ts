// The node agent: the Redirector plus the enrol API the CNI plugin calls. Stopping it closes the
// listeners and the API but leaves every pin in place, so pods stay captured (fail closed) until
// the next agent re-adopts them.
import { findCgroup2Mount, weftError, type Logger } from "@weft/core";
import type { AgentConfig } from "../config.js";
import { cgroupOfNetns, findPodCgroup } from "../redirect/cgroup.js";
import type { PodHandlers } from "../redirect/listeners.js";
import type { PodRecord } from "../redirect/pod.js";
import { Redirector, type AdoptionReport } from "../redirect/redirector.js";
import { serveApi, type EnrolService } from "./api.js";
import type { EnrollRequest, UnenrollRequest } from "./protocol.js";

export interface AgentOptions {
  readonly config: Pick<
    AgentConfig,
    "pinRoot" | "stateDir" | "cniSocket" | "bpfDir" | "dnsCapture" | "denyBind" | "cgroupRoot"
  > &
    Partial<Pick<AgentConfig, "excludeCidrs" | "probeSources" | "originalSource">>;
  readonly handlers?: PodHandlers;
  readonly logger?: Logger;
  /** For tests: the process's capabilities. */
  readonly capabilities?: ReadonlySet<string>;
}

export interface Agent {
  readonly redirector: Redirector;
  readonly adoption: AdoptionReport;
  readonly socketPath: string;
  /** Stop serving; pins stay. */
  close(): Promise<void>;
}

/**
 * The pod's cgroup: the one in the request, else kubelet's pod<uid> cgroup, else the cgroup of a
 * process in the pod netns (see redirect/cgroup.ts for why in this order).
 */
export function resolveCgroup(req: EnrollRequest, cgroupRoot: string | undefined): string {
  if (req.cgroupPath !== undefined && req.cgroupPath !== "") return req.cgroupPath;
  const root = cgroupRoot ?? findCgroup2Mount();
  const found =
    (typeof req.uid === "string" ? findPodCgroup(root, req.uid) : undefined) ??
    (typeof req.netnsPath === "string" ? safe(() => cgroupOfNetns(req.netnsPath, root, req.uid)) : undefined);
  if (found !== undefined) return found;
  throw weftError(
    "WEFT_E_NOT_FOUND",
    `cannot find the cgroup of pod ${String(req.uid)}: no pod${String(req.uid)} cgroup under ${root} and no process in ${String(req.netnsPath)}`,
    { uid: req.uid, netnsPath: req.netnsPath },
    {
      fix: "pass it explicitly (CNI_ARGS WEFT_CGROUP=<cgroup v2 dir>), or set WEFT_CGROUP_ROOT to the cgroup2 mount kubelet uses",
    },
  );
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { config, logger } = opts;
  const redirector = await Redirector.start({
    pinRoot: config.pinRoot,
    stateDir: config.stateDir,
    dns: config.dnsCapture,
    denyBind: config.denyBind,
    ...(config.originalSource !== undefined ? { originalSource: config.originalSource } : {}),
    ...(config.excludeCidrs !== undefined ? { excludeCidrs: config.excludeCidrs } : {}),
    ...(config.probeSources !== undefined ? { probeSources: config.probeSources } : {}),
    ...(config.bpfDir !== undefined ? { bpfDir: config.bpfDir } : {}),
    ...(opts.handlers !== undefined ? { handlers: opts.handlers } : {}),
    ...(opts.capabilities !== undefined ? { capabilities: opts.capabilities } : {}),
    ...(logger !== undefined ? { logger } : {}),
  });
  const service: EnrolService = {
    async enroll(req: EnrollRequest): Promise<PodRecord> {
      if (typeof req !== "object" || req === null) {
        throw weftError("WEFT_E_INVALID_INPUT", "enrol request must be a JSON object");
      }
      const cgroupPath = resolveCgroup(req, config.cgroupRoot);
      return (await redirector.enroll({ ...req, cgroupPath })).pod;
    },
    async unenroll(req: UnenrollRequest): Promise<boolean> {
      let removed = false;
      if (req.uid !== undefined) removed = await redirector.unenroll(req.uid);
      if (!removed && req.containerId !== undefined) removed = await redirector.unenroll(req.containerId);
      return removed;
    },
    pods: () => redirector.pods(),
  };
  let api;
  try {
    api = await serveApi(service, config.cniSocket, logger);
  } catch (err) {
    await redirector.close();
    throw err;
  }
  logger?.info(
    { socket: config.cniSocket, pinRoot: config.pinRoot, adoption: redirector.adoption },
    "agent ready",
  );
  return {
    redirector,
    adoption: redirector.adoption,
    socketPath: config.cniSocket,
    close: async () => {
      await api.close();
      await redirector.close();
    },
  };
}
