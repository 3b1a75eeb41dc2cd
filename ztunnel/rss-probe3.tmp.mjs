import v8 from "node:v8";
import { readFileSync } from "node:fs";
if (process.argv[2]) v8.setFlagsFromString(process.argv[2]);
const rss = () => (Number(readFileSync("/proc/self/status","utf8").match(/VmRSS:\s+(\d+)/)[1])/1024).toFixed(1);
await import("./dist/src/index.js");
const keep = []; for (let i=0;i<200000;i++){ keep.push({a:i,b:"x"+i}); if (keep.length>1000) keep.length=0; }
setTimeout(()=>{ const ns=v8.getHeapSpaceStatistics().find(s=>s.space_name==="new_space"); console.log(process.argv[2]||"-", "rss", rss(), "new", (ns.physical_space_size/1048576).toFixed(1)); }, 300);
