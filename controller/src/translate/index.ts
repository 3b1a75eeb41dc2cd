export { translate } from "./translate.js";
export type { TranslationInput } from "./context.js";
export {
  HBONE_PORT,
  LABEL_DATAPLANE_MODE,
  LABEL_USE_WAYPOINT,
  LABEL_USE_WAYPOINT_NAMESPACE,
  LABEL_WAYPOINT_FOR,
  WAYPOINT_CLASS,
} from "./context.js";
export type * from "./model.js";
export {
  ipToBytes,
  toAuthorization,
  toGrpcRoute,
  toHttpRoute,
  toL7Authorization,
  toService,
  toTrafficPolicy,
  toWorkload,
  serviceResource,
  toXdsResources,
  workloadResource,
} from "./xds.js";
export type { XdsResource } from "./xds.js";
export { IncrementalTranslator } from "./incremental.js";
export type { ObjectDelta, TranslationUpdate } from "./incremental.js";
