export * from "./loader.js";
export * from "./file-source.js";
