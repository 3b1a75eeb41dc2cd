// Every environment variable @weft/ztunnel reads, with its default and why (DESIGN §9: the only
// place in this package that touches process.env). Sections: the node agent (redirection, enrol
// API) and the CNI plugin (whose inputs are the CNI spec's CNI_* variables).
import { LOG_LEVEL_CONFIG, defineConfig, readConfig, type ConfigOf, type Env } from "@weft/core";

export const AGENT_CONFIG = defineConfig({
  logLevel: LOG_LEVEL_CONFIG,
  pinRoot: {
    env: "WEFT_PIN_ROOT",
    type: "string",
    default: "/sys/fs/bpf/weft",
    why: "bpffs directory holding weft's pinned maps and per-pod links (pods/<uid>/<prog>); pods stay captured across agent restarts through these pins.",
  },
  stateDir: {
    env: "WEFT_STATE_DIR",
    type: "string",
    default: "/run/weft/pods",
    why: "Directory of per-pod enrolment records (<uid>.json): what a restarted agent needs to re-create a pod's listeners. bpffs cannot hold regular files.",
  },
  cniSocket: {
    env: "WEFT_CNI_SOCKET",
    type: "string",
    default: "/run/weft/cni.sock",
    why: "Unix socket of the enrol API the CNI plugin calls (POST /enroll, POST /unenroll, GET /pods).",
  },
  bpfDir: {
    env: "WEFT_BPF_DIR",
    type: "string",
    optional: true,
    why: "Directory of the compiled eBPF objects (*.bpf.o); defaults to bpf/out of the source tree.",
  },
  dnsCapture: {
    env: "WEFT_DNS_CAPTURE",
    type: "bool",
    default: false,
    why: "Redirect pods' UDP/53 to the in-pod DNS proxy on :15053 (opt-in, as in Istio's DNS capture).",
  },
  denyBind: {
    env: "WEFT_DENY_BIND",
    type: "bool",
    default: true,
    why: "Refuse apps in enrolled pods binding ztunnel's ports (15001/15006/15008/15053), which would otherwise break capture.",
  },
  excludeCidrs: {
    env: "WEFT_EXCLUDE_CIDRS",
    type: "list",
    default: [],
    why: "Destinations (CIDRs or IPs, comma-separated) that enrolled pods reach directly, never captured outbound: e.g. a cloud metadata address. Written to the weft_exclude map on start; the list replaces what a previous agent left there.",
  },
  probeSources: {
    env: "WEFT_PROBE_SOURCES",
    type: "list",
    default: [],
    why: "Inbound sources (CIDRs or IPs) that reach pods uncaptured: the address kubelet's health probes come from, so plaintext probes keep working under STRICT mTLS. Written to the weft_probe_allow map on start.",
  },
  cgroupRoot: {
    env: "WEFT_CGROUP_ROOT",
    type: "string",
    optional: true,
    why: "cgroup v2 mount to search for kubelet's pod cgroups (pod<uid>); defaults to the host's cgroup2 mount.",
  },
});

export type AgentConfig = ConfigOf<typeof AGENT_CONFIG>;

export function readAgentConfig(env: Env = process.env): AgentConfig {
  return readConfig(AGENT_CONFIG, env);
}

/**
 * The CNI plugin's inputs from the environment (CNI spec "Parameters"): named by the spec, so they
 * are read raw here and validated by cni/request.ts, which reports errors in the spec's format.
 */
export interface CniEnvironment {
  readonly command: string | undefined;
  readonly containerId: string | undefined;
  readonly netns: string | undefined;
  readonly ifname: string | undefined;
  readonly args: string | undefined;
  readonly path: string | undefined;
}

export function readCniEnvironment(env: Env = process.env): CniEnvironment {
  return {
    command: env["CNI_COMMAND"],
    containerId: env["CNI_CONTAINERID"],
    netns: env["CNI_NETNS"],
    ifname: env["CNI_IFNAME"],
    args: env["CNI_ARGS"],
    path: env["CNI_PATH"],
  };
}
