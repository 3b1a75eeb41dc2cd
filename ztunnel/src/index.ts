export const zt = 1;
