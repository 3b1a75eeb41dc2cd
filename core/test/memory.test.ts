import { it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import type { MemoryReport } from "../src/memory.js";

const run = promisify(execFile);
const entry = fileURLToPath(new URL("../src/memory.js", import.meta.url));

void it("memoryReport: heap spaces by name, and the flags from the command line and NODE_OPTIONS in order", async () => {
  const script = `import(${JSON.stringify(entry)}).then((m) => console.log(JSON.stringify(m.memoryReport(process.env.NODE_OPTIONS))));`;
  const { stdout } = await run(process.execPath, ["--max-semi-space-size=1", "-e", script], {
    env: { ...process.env, NODE_OPTIONS: "--max-semi-space-size=2" },
  });
  const report = JSON.parse(stdout) as MemoryReport;
  assert.deepEqual(
    report.nodeFlags.filter((f) => f.startsWith("--max-semi")),
    ["--max-semi-space-size=1", "--max-semi-space-size=2"],
  );
  for (const space of ["new", "old", "code", "large_object"]) {
    const s = report.heapSpaces[space];
    assert.ok(s !== undefined, `space ${space} is reported`);
    assert.ok(s.usedBytes <= s.sizeBytes, `${space}: used within size`);
  }
  assert.ok(report.rssBytes > report.heapUsedBytes, "RSS includes the heap");
  // NODE_OPTIONS comes after the command line and wins: a 2 MiB semi-space, two of them.
  assert.ok(
    report.heapSpaces.new!.sizeBytes <= 4 * 1024 * 1024,
    `new space ${report.heapSpaces.new!.sizeBytes}`,
  );
});
