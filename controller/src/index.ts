// Public surface of @weft/controller.
export * from "./ca/index.js";
export * from "./xds/index.js";
export * from "./ca-service/index.js";
export { ControllerMetrics, typeLabel } from "./admin/metrics.js";
export { startAdminServer, type AdminServer, type AdminServerOptions } from "./admin/server.js";
export { CONTROLLER_CONFIG, readControllerConfig, type ControllerConfig } from "./config.js";
export { parseAddress, startController, type ControllerOptions, type RunningController } from "./main.js";
// The translation pipeline as a library (bench/ drives translate → toXdsResources → publish in-process).
export {
  IncrementalTranslator,
  toXdsResources,
  translate,
  type TranslationInput,
  type ObjectDelta,
  type TranslationUpdate,
  type XdsResource,
} from "./translate/index.js";
export {
  DEFAULT_MESH_SETTINGS,
  type K8sObject,
  type MeshSettings,
  type Namespace,
  type Pod,
  type Service,
} from "./k8s/index.js";
