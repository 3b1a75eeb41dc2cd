export const zt = 1;
export * from "./redirect/index.js";
export * from "./agent/index.js";
export { AGENT_CONFIG, readAgentConfig, type AgentConfig } from "./config.js";
export {
  CNI_ERROR,
  DEFAULT_AGENT_SOCKET,
  SUPPORTED_VERSIONS,
  ipsOf,
  parseCniArgs,
  parseConfig,
  runCni,
  type AgentPort,
  type CniInput,
  type CniOutput,
  type WeftCniConfig,
} from "./cni/plugin.js";
export { readCniEnvironment, type CniEnvironment } from "./config.js";
export * from "./tls/index.js";
export * from "./hbone/index.js";
export * from "./pool/index.js";
export * from "./proxy/index.js";
export {
  ZtunnelMetrics,
  istioLabels,
  accessLogEntry,
  ISTIO_TCP_LABELS,
  type IstioTcpLabel,
} from "./metrics.js";
export {
  startZtunnel,
  parseHostPort,
  type RunningZtunnel,
  type ZtunnelIdentities,
  type ZtunnelOptions,
} from "./ztunnel.js";
export { readZtunnelConfig, ZTUNNEL_CONFIG, type ZtunnelConfig } from "./config.js";
export * from "./identity/index.js";
export * from "./dns/index.js";
