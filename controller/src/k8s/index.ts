export * from "./common.js";
export * from "./objects.js";
export * from "./validate.js";
export * from "./mesh.js";
