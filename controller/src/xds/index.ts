export {
  ResourceCache,
  resourceVersion,
  type CacheChange,
  type CacheListener,
  type CachedResource,
  type ResourceInput,
} from "./cache.js";
export {
  DEFAULT_DEBOUNCE,
  Debouncer,
  fireAt,
  REAL_TIMERS,
  type DebounceOptions,
  type Timers,
} from "./debounce.js";
// The NACK detail convention lives in @weft/api, shared with the client; re-exported for callers
// that imported it from here.
export { NACK_REJECTED_FIELD, rejectedNames } from "@weft/api";
export {
  DeltaXdsServer,
  WAYPOINT_METADATA_KEY,
  type ClientDump,
  type DeltaXdsServerOptions,
  type XdsServerEvent,
} from "./server.js";
export { SERVED_TYPE_URLS, publish, publishUpdate } from "./pipeline.js";
export type { PublishableUpdate } from "./pipeline.js";
export {
  authenticateXdsClient,
  authorizeXdsClient,
  decideXdsAccess,
  type CertificateCheck,
  type TokenCheck,
  type XdsAccessDecision,
  type XdsAccessFacts,
  type XdsDenyReason,
} from "./auth.js";
export {
  checkClientCertificate,
  createXdsAuthorizer,
  type XdsAuthorizer,
  type XdsAuthorizerOptions,
  type XdsStreamCredentials,
} from "./auth-peer.js";
