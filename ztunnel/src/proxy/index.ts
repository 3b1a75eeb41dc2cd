// The data path: what serves the in-pod listeners (outbound :15001, inbound :15006 and :15008).
export {
  OutboundProxy,
  newTraceparent,
  sourceBaggage,
  sourceIpFor,
  splitAddress,
  type OutboundProxyOptions,
} from "./outbound.js";
export { InboundProxy, upstreamSourceFor, type IdentitySource, type InboundProxyOptions } from "./inbound.js";
export {
  newRecord,
  type ConnectionObserver,
  type ConnectionRecord,
  type Direction,
  type ResponseFlag,
  type SecurityPolicy,
} from "./record.js";
export { INBOUND_PASSTHROUGH_V4, connectInNetns, startConnectInNetns, type NetnsDial } from "./sockets.js";
export { spliceSockets, type SpliceResult } from "./splice.js";
