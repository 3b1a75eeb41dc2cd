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
export { NACK_REJECTED_FIELD, rejectedNames } from "./nack.js";
export {
  DeltaXdsServer,
  WAYPOINT_METADATA_KEY,
  type ClientDump,
  type DeltaXdsServerOptions,
  type XdsServerEvent,
} from "./server.js";
export { SERVED_TYPE_URLS, publish } from "./pipeline.js";
