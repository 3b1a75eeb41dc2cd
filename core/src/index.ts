export const coreName = "core";
