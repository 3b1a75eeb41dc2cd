export * from "./netns/index.js";
export { isCi, rootOnly, rootOnlyOptions } from "./config.js";
export * from "./mesh/index.js";
export {
  podYaml,
  startControllerProcess,
  stopProcess,
  type ControllerProcess,
} from "./controller-process.js";
