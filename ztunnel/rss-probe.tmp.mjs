import { readFileSync } from "node:fs";
const rss = () => (Number(readFileSync("/proc/self/status","utf8").match(/VmRSS:\s+(\d+)/)[1])/1024).toFixed(1);
const mu = () => { const m = process.memoryUsage(); return `heapUsed ${(m.heapUsed/1048576).toFixed(1)} heapTotal ${(m.heapTotal/1048576).toFixed(1)} ext ${(m.external/1048576).toFixed(1)}`; };
console.log("bare", rss(), mu());
for (const spec of (process.argv[2]||"").split(",").filter(Boolean)) {
  await import(spec);
  globalThis.gc?.();
  console.log(spec, rss(), mu());
}
