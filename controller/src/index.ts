// Public surface of @weft/controller.
export * from "./ca/index.js";
export * from "./xds/index.js";
export * from "./ca-service/index.js";
export { ControllerMetrics, typeLabel } from "./admin/metrics.js";
export { startAdminServer, type AdminServer, type AdminServerOptions } from "./admin/server.js";
export { CONTROLLER_CONFIG, readControllerConfig, type ControllerConfig } from "./config.js";
export { parseAddress, startController, type ControllerOptions, type RunningController } from "./main.js";
