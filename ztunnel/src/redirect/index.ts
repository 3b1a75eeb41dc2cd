// eBPF redirection of enrolled pods (DESIGN §4, §7): the Redirector and its pure building blocks.
export {
  DEFAULT_STATE_DIR,
  REDIRECT_CAPABILITIES,
  Redirector,
  cidrList,
  connKeyOf,
  defaultBpfDir,
  type AdoptionReport,
  type RedirectorOptions,
} from "./redirector.js";
export {
  FAIL_CLOSED_HANDLERS,
  plainAddress,
  type ConnectionContext,
  type DnsQueryContext,
  type InboundContext,
  type OpenListener,
  type OutboundContext,
  type PodHandlers,
  type PodListeners,
} from "./listeners.js";
export {
  DEFAULT_PORTS,
  attachmentPlan,
  canonicalIp,
  decideEnrol,
  listenerPlan,
  normalizePodSpec,
  podHealth,
  validatePodSpec,
  type Attachment,
  type CaptureOptions,
  type EnrolDecision,
  type ListenerRole,
  type ListenerSpec,
  type PodHealth,
  type PodRecord,
  type PodSpec,
  type Ports,
} from "./pod.js";
export {
  cgroupOfNetns,
  findPodCgroup,
  isPodCgroupName,
  parseProcCgroup,
  podCgroupNames,
  podLevel,
} from "./cgroup.js";
