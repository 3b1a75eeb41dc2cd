export {
  DeltaXdsClient,
  DEFAULT_CONTROLLER_NAME,
  NACK_REJECTED_FIELD,
  type DeltaXdsClientOptions,
  type XdsClientEvents,
  type XdsClientStats,
  type XdsCredentials,
} from "./client.js";
export {
  addressHandler,
  authorizationHandler,
  unpackExpected,
  type DecodedResource,
  type ResourceRejection,
  type XdsTypeHandler,
} from "./handlers.js";
export {
  ConversionError,
  addressFromProto,
  authorizationFromProto,
  ipFromBytes,
  serviceFromProto,
  workloadFromProto,
} from "./convert.js";
