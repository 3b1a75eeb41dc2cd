// Every environment variable @weft/ztunnel reads, with its default and why (DESIGN §9: the only
// place in this package that touches process.env). Sections: the node agent (redirection, enrol
// API) and the CNI plugin (whose inputs are the CNI spec's CNI_* variables).
import { readFileSync } from "node:fs";
import { LOG_LEVEL_CONFIG, defineConfig, readConfig, type ConfigOf, type Env } from "@weft/core";
import { RESOLV_CONF_FALLBACK, parseResolvConf, parseUpstream, type Upstream } from "./dns/upstream.js";

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
  originalSource: {
    env: "WEFT_ORIGINAL_SOURCE",
    type: "bool",
    default: true,
    why: "Connect to apps from the client's own IP (IP_TRANSPARENT inside the pod, answers routed back by a fwmark rule), so apps see their real peers as with Istio's in-pod ztunnel. false: connect from 127.0.0.6 (IPv6: the pod's own IP) and carry the client in the Forwarded header only.",
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

/** The DNS proxy (:15053 in each enrolled pod, when WEFT_DNS_CAPTURE is on). */
export const DNS_PROXY_CONFIG = defineConfig({
  upstreams: {
    env: "WEFT_DNS_UPSTREAMS",
    type: "list",
    optional: true,
    why: "Resolvers for names outside the mesh (ip[:port], comma separated), tried in order. Unset: the nameservers of WEFT_DNS_RESOLV_CONF, i.e. what ztunnel itself uses (kube-dns under dnsPolicy ClusterFirst).",
  },
  resolvConf: {
    env: "WEFT_DNS_RESOLV_CONF",
    type: "string",
    default: "/etc/resolv.conf",
    why: "File whose nameserver lines give the default upstreams; read once at startup. Without nameservers glibc's fallback 127.0.0.1 is used.",
  },
  domain: {
    env: "WEFT_DNS_DOMAIN",
    type: "string",
    default: "cluster.local",
    why: "The cluster domain: Service hostnames are <svc>.<ns>.svc.<domain>, and pods search <ns>.svc.<domain>, svc.<domain>, <domain>.",
  },
  upstreamTimeout: {
    env: "WEFT_DNS_UPSTREAM_TIMEOUT",
    type: "duration",
    default: "2s",
    min: 50,
    max: 30_000,
    why: "How long one upstream gets per attempt (UDP, then TCP on truncation) before the next is tried; below glibc's 5 s so the client gets our SERVFAIL rather than its own timeout.",
  },
  tcpIdleTimeout: {
    env: "WEFT_DNS_TCP_IDLE_TIMEOUT",
    type: "duration",
    default: "10s",
    min: 100,
    why: "A pod's DNS-over-TCP connection with no query in flight is closed after this long (RFC 7766 suggests seconds), so idle clients do not hold sockets.",
  },
});

export interface DnsProxyConfig {
  readonly upstreams: readonly Upstream[];
  readonly domainSuffix: string;
  readonly upstreamTimeoutMs: number;
  readonly tcpIdleTimeoutMs: number;
}

/**
 * The DNS proxy's settings. resolv.conf is read here, once, only when WEFT_DNS_UPSTREAMS is unset;
 * a missing file means the glibc fallback (with the reason in the thrown error otherwise).
 */
export function readDnsProxyConfig(
  env: Env = process.env,
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): DnsProxyConfig {
  const c = readConfig(DNS_PROXY_CONFIG, env);
  let upstreams: readonly Upstream[];
  if (c.upstreams !== undefined && c.upstreams.length > 0) {
    upstreams = c.upstreams.map(parseUpstream);
  } else {
    let text = "";
    try {
      text = readFile(c.resolvConf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const servers = parseResolvConf(text).nameservers;
    upstreams = servers.length > 0 ? servers : RESOLV_CONF_FALLBACK;
  }
  return {
    upstreams,
    domainSuffix: c.domain.replace(/^\.+|\.+$/g, "").toLowerCase(),
    upstreamTimeoutMs: c.upstreamTimeout,
    tcpIdleTimeoutMs: c.tcpIdleTimeout,
  };
}

/**
 * The identity manager's CA connection (DESIGN §5): where the CA is, how its serving certificate is
 * verified, and how the node agent authenticates. Separate from AGENT_CONFIG so a process that
 * only needs certificates reads only these.
 */
export const IDENTITY_CONFIG = defineConfig({
  caAddress: {
    env: "WEFT_CA_ADDRESS",
    type: "string",
    default: "weft-controller.weft-system.svc:15012",
    why: "host:port of the CA (istio.v1.auth.IstioCertificateService); the controller serves it on its xDS port, as istiod does.",
  },
  caRootFile: {
    env: "WEFT_CA_ROOT_FILE",
    type: "string",
    default: "/var/run/secrets/weft/root-cert.pem",
    why: "PEM root(s) the CA's serving certificate must chain to: the weft-ca-root-cert ConfigMap mounted as a file. Its roots are also trusted for mesh peers.",
  },
  caServerName: {
    env: "WEFT_CA_SERVER_NAME",
    type: "string",
    default: "weft-controller.weft-system.svc",
    why: "DNS name verified in the CA's serving certificate; set it when the CA is reached through an address its certificate does not name.",
  },
  caTokenFile: {
    env: "WEFT_CA_TOKEN_FILE",
    type: "string",
    default: "/var/run/secrets/tokens/weft-ca",
    why: "Projected service account token (audience weft-ca) sent as the bearer token; re-read on every request because the kubelet rotates it.",
  },
  certTtl: {
    env: "WEFT_CERT_TTL",
    type: "duration",
    default: "24h",
    min: 60_000,
    why: "Workload certificate lifetime asked of the CA (it may cap it); certificates are refreshed at half-life.",
  },
  maxConcurrentCertFetches: {
    env: "WEFT_CERT_FETCH_CONCURRENCY",
    type: "int",
    default: 3,
    min: 1,
    max: 64,
    why: "CA requests in flight at once; bounds the burst a node with many new pods sends the CA. Requests of waiting connections go first.",
  },
});

export type IdentityConfig = ConfigOf<typeof IDENTITY_CONFIG>;

export function readIdentityConfig(env: Env = process.env): IdentityConfig {
  return readConfig(IDENTITY_CONFIG, env);
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

/** The tunnel's settings on top of the agent's: who this node is, where the controller is. */
export const ZTUNNEL_CONFIG = defineConfig({
  ...AGENT_CONFIG,
  ...IDENTITY_CONFIG,
  nodeName: {
    env: "WEFT_NODE_NAME",
    type: "string",
    why: "This node's name (the Pod's spec.nodeName, from the downward API): the CA grants certificates only for pods on it.",
  },
  xdsAddress: {
    env: "WEFT_XDS_ADDRESS",
    type: "string",
    default: "weft-controller.weft-system.svc:15012",
    why: "host:port of the controller's delta xDS endpoint (gRPC over TLS); verified with WEFT_CA_ROOT_FILE and WEFT_CA_SERVER_NAME, authenticated with WEFT_CA_TOKEN_FILE, like the CA.",
  },
  network: {
    env: "WEFT_NETWORK",
    type: "string",
    default: "",
    why: "The network this node's pods are on (Istio multi-network); addresses are looked up in it.",
  },
  trustDomain: {
    env: "WEFT_TRUST_DOMAIN",
    type: "string",
    default: "cluster.local",
    why: "SPIFFE trust domain of the mesh: HBONE peers must present an identity in it.",
  },
  rootNamespace: {
    env: "WEFT_ROOT_NAMESPACE",
    type: "string",
    default: "weft-system",
    why: "Namespace whose policies apply mesh-wide (as the controller's rootNamespace).",
  },
  adminAddress: {
    env: "WEFT_ADMIN_ADDRESS",
    type: "string",
    default: "127.0.0.1:15000",
    why: "Admin HTTP (config dump, certificates, pools, log level): localhost only, it shows internals.",
  },
  metricsAddress: {
    env: "WEFT_METRICS_ADDRESS",
    type: "string",
    default: "0.0.0.0:15020",
    why: "Prometheus /metrics (Istio's port).",
  },
  readyAddress: {
    env: "WEFT_READY_ADDRESS",
    type: "string",
    default: "0.0.0.0:15021",
    why: "Readiness /healthz/ready for the kubelet (Istio's port).",
  },
  drainTimeout: {
    env: "WEFT_DRAIN_TIMEOUT",
    type: "duration",
    default: "30s",
    why: "On SIGTERM, how long tunnelled connections may run on before they are closed.",
  },
  gcCountsExternalMemory: {
    env: "WEFT_ZTUNNEL_GC_COUNTS_EXTERNAL_MEMORY",
    type: "bool",
    default: true,
    why: "Sets V8's --external-memory-accounted-in-global-limit at start-up: every socket read is an external buffer, and without it V8 finds the dead ones only through forced full collections. In mesh-l4 A/B (docs/perf/l4-hot-path.md) it cut CPU per request ~20 % and raised throughput ~16 %, at ~20 % more RSS after load. Set false to get V8's default back.",
  },
  nodeOptions: {
    env: "NODE_OPTIONS",
    type: "string",
    default: "",
    why: "Read by Node itself; ztunnel only reports it in the admin /memory. The launcher (bin/weft-ztunnel) puts --max-semi-space-size=4 first here (ADR 0009); flags added after it win.",
  },
});

export type ZtunnelConfig = ConfigOf<typeof ZTUNNEL_CONFIG>;

export function readZtunnelConfig(env: Env = process.env): ZtunnelConfig {
  return readConfig(ZTUNNEL_CONFIG, env);
}
