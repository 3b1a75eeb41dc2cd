export * from "./netns/index.js";
export { isCi, rootOnly, rootOnlyOptions } from "./config.js";
export * from "./mesh/index.js";
