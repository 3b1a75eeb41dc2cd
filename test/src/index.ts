export * from "./netns/index.js";
export { isCi, rootOnly, rootOnlyOptions } from "./config.js";
