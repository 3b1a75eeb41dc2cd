import { readFileSync } from "node:fs";
import v8 from "node:v8";
const rss = () => (Number(readFileSync("/proc/self/status","utf8").match(/VmRSS:\s+(\d+)/)[1])/1024).toFixed(1);
const spaces = () => v8.getHeapSpaceStatistics().map(s=>`${s.space_name.replace("_space","")}=${(s.physical_space_size/1048576).toFixed(1)}`).join(" ");
for (const spec of (process.argv[2]||"").split(",").filter(Boolean)) await import(spec);
globalThis.gc?.();
setTimeout(()=>{ console.log(process.execArgv.join(" "), "rss", rss(), spaces()); }, 300);
