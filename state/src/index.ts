import { coreName } from "@weft/core";
export const stateName = coreName + "/state";
