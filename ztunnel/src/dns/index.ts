export {
  DnsProxy,
  DNS_TTL_SECONDS,
  DEFAULT_TCP_IDLE_TIMEOUT_MS,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  type DnsProxyOptions,
  type DnsProxyStats,
} from "./proxy.js";
export {
  resolveDns,
  kubernetesSearchDomains,
  type DnsClient,
  type DnsQuestion,
  type DnsRecord,
  type DnsResolution,
  type ResolveOptions,
} from "./resolve.js";
export {
  parseResolvConf,
  parseUpstream,
  RESOLV_CONF_FALLBACK,
  type ResolvConf,
  type Upstream,
} from "./upstream.js";
export { DNS_PROXY_CONFIG, readDnsProxyConfig, type DnsProxyConfig } from "../config.js";
