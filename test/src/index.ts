export * from "./netns/index.js";
