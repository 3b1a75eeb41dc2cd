export * from "./errors.js";
export * from "./spec.js";
export * from "./host.js";
export * from "./record.js";
export * from "./process.js";
export * from "./world.js";
export * from "./clients.js";
