// Standalone entry for the capture cost benchmark (root):
//   node bench/dist/src/redirect/main.js [--quick]
// writes bench/results/<date>-redirect-connect.json and prints the Markdown table.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connectRateMarkdown, measureConnectRate } from "./connect-rate.js";

const quick = process.argv.includes("--quick");
const rows = await measureConnectRate({ quick, log: (l) => console.error(l) });
const dir = resolve(import.meta.dirname, "../../../results");
mkdirSync(dir, { recursive: true });
const file = join(dir, `${new Date().toISOString().slice(0, 10)}-redirect-connect.json`);
writeFileSync(file, JSON.stringify({ benchmark: "redirect-connect", quick, rows }, null, 2) + "\n");
console.log(connectRateMarkdown(rows));
console.log(`\n(written to ${file})`);
