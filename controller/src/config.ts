// Every environment variable the controller reads, with its default and why (DESIGN §9: the only
// place in @weft/controller that touches process.env). Flags of `weft-controller` override the
// WEFT_CONTROLLER_* address and directory variables.
import { LOG_LEVEL_CONFIG, defineConfig, readConfig, type ConfigOf, type Env } from "@weft/core";

export const CONTROLLER_CONFIG = defineConfig({
  logLevel: LOG_LEVEL_CONFIG,
  configDir: {
    env: "WEFT_CONTROLLER_CONFIG_DIR",
    type: "string",
    optional: true,
    why: "Directory of Kubernetes YAML the file source serves (same as --config-dir).",
  },
  caDir: {
    env: "WEFT_CONTROLLER_CA_DIR",
    type: "string",
    optional: true,
    why: "Directory holding the CA pair (ca-cert.pem, ca-key.pem; same as --ca-dir). A root is generated there when empty.",
  },
  xdsAddress: {
    env: "WEFT_CONTROLLER_XDS_ADDRESS",
    type: "string",
    default: "0.0.0.0:15012",
    why: "host:port of the gRPC/TLS listener serving delta xDS and the CA (Istio's port 15012).",
  },
  adminAddress: {
    env: "WEFT_CONTROLLER_ADMIN_ADDRESS",
    type: "string",
    default: "0.0.0.0:15014",
    why: "host:port of the admin HTTP listener: /metrics, /ready, /debug/config_dump (Istio's 15014).",
  },
  debounceQuiet: {
    env: "WEFT_XDS_DEBOUNCE_QUIET",
    type: "duration",
    default: "10ms",
    min: 0,
    why: "Push once config has been quiet this long; larger values coalesce bursts into fewer pushes.",
  },
  debounceMax: {
    env: "WEFT_XDS_DEBOUNCE_MAX",
    type: "duration",
    default: "100ms",
    min: 0,
    why: "Push at the latest this long after the first pending change, however busy the source is.",
  },
  trustedNodeAgents: {
    env: "WEFT_CA_TRUSTED_NODE_AGENTS",
    type: "list",
    default: ["weft-system/ztunnel"],
    why: "Service accounts (namespace/name) allowed to request certificates for pods on their own node.",
  },
  certTtl: {
    env: "WEFT_CA_WORKLOAD_CERT_TTL",
    type: "duration",
    default: "24h",
    min: 60_000,
    why: "Lifetime of workload certificates when the request does not ask for one (DESIGN §5).",
  },
  maxCertTtl: {
    env: "WEFT_CA_MAX_WORKLOAD_CERT_TTL",
    type: "duration",
    default: "2160h",
    min: 60_000,
    why: "Longest lifetime a request may ask for; longer requests are capped (Istio's MAX_WORKLOAD_CERT_TTL).",
  },
  serviceAccount: {
    env: "WEFT_CONTROLLER_SERVICE_ACCOUNT",
    type: "string",
    default: "weft-system/weft-controller",
    why: "namespace/name of the controller's own service account: the URI SAN of its serving certificate.",
  },
  dnsNames: {
    env: "WEFT_CONTROLLER_DNS_NAMES",
    type: "list",
    default: ["weft-controller.weft-system.svc", "weft-controller.weft-system.svc.cluster.local"],
    why: "DNS SANs of the serving certificate: the names ztunnels and waypoints dial the controller by.",
  },
  drainDeadline: {
    env: "WEFT_CONTROLLER_DRAIN_DEADLINE",
    type: "duration",
    default: "5s",
    min: 0,
    why: "On SIGTERM, how long in-flight CA requests may finish before the process exits.",
  },
});

export type ControllerConfig = ConfigOf<typeof CONTROLLER_CONFIG>;

export function readControllerConfig(env: Env = process.env): ControllerConfig {
  return readConfig(CONTROLLER_CONFIG, env);
}
