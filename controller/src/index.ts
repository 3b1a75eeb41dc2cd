// Public surface of @weft/controller.
export * from "./ca/index.js";
