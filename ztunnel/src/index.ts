export const zt = 1;
export * from "./redirect/index.js";
