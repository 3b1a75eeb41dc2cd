// The ztunnel's module graph must not pull in grpc-js: it talks to the controller (xDS and CA)
// through @weft/api's lean client, and grpc-js with one channel is ~7.6 MiB of RSS per node.
import { it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);
const entry = fileURLToPath(new URL("../src/index.js", import.meta.url));

void it("loading the ztunnel does not load @grpc/grpc-js", async () => {
  const script = `
    import { createRequire } from "node:module";
    const req = createRequire(${JSON.stringify(entry)});
    await import(${JSON.stringify(entry)});
    // The check can fail: this very script loads grpc-js on request to prove it sees it.
    const count = () => Object.keys(req.cache).filter((k) => k.includes("@grpc/grpc-js")).length;
    const before = count();
    if (process.argv[1] === "probe") req("@grpc/grpc-js");
    console.log(JSON.stringify({ before, after: count() }));
  `;
  const check = async (arg: string) =>
    JSON.parse((await run(process.execPath, ["--input-type=module", "-e", script, arg])).stdout) as {
      before: number;
      after: number;
    };
  assert.deepEqual(await check("plain"), { before: 0, after: 0 });
  const probe = await check("probe");
  assert.equal(probe.before, 0);
  assert.ok(probe.after > 0, "the check sees grpc-js once it is loaded");
});
