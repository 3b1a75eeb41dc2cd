// `npm start`'s demo (root): the real mesh comes up, the traffic table and the identities the
// tunnels saw are printed, and everything is removed — after --once, and on Ctrl-C while it holds.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { rootOnly } from "@weft/test";

const DEMO = fileURLToPath(new URL("../src/mesh/demo.js", import.meta.url));

function run(
  args: string[],
  onLine?: (line: string, kill: () => void) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [DEMO, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const kill = (): void => void p.kill("SIGINT");
    p.stdout.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      for (const line of c.split("\n")) onLine?.(line, kill);
    });
    p.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
    const timer = setTimeout(() => p.kill("SIGKILL"), 150_000);
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

/** The netns names the demo printed in its world table. */
function namespaces(out: string): string[] {
  return [...out.matchAll(/\b(weft-[0-9a-f]{6}-[np]-[a-z0-9-]+)\b/g)].map((m) => m[1]!);
}

void describe("npm start (the L4 mesh demo)", { ...rootOnly(), timeout: 400_000 }, () => {
  void it("--once: prints the traffic, the identities the tunnels saw and metrics, then removes everything", async () => {
    const { code, out } = await run(["--once"]);
    assert.equal(code, 0, out);
    assert.equal(out.match(/frontend\s+orders \(VIP\)\s+ok, 64 KiB echoed/g)?.length, 4, out);
    assert.match(out, /orders-a\s+payments \(VIP\)\s+ok/);
    assert.match(out, /frontend\s+payments \(VIP\)\s+refused/);
    assert.match(out, /intruder\s+payments \(pod IP\)\s+refused/);
    assert.match(out, /outsider\s+payments, plaintext from outside the mesh\s+refused/);
    assert.match(out, /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/orders\s+payments .*allowed/);
    assert.match(out, /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/intruder\s+payments .*NO_ALLOW_MATCH\s+DENY/);
    assert.match(out, /weft_converted_static_strict/);
    assert.match(out, /node-a\s+source\s+5\s/);
    assert.match(out, /torn down/);
    const names = namespaces(out);
    assert.ok(names.length >= 8, out);
    for (const n of names) assert.equal(existsSync(`/run/netns/${n}`), false, `${n} was removed`);
  });

  void it("holds until Ctrl-C, then tears down", async () => {
    const { code, signal, out } = await run([], (line, kill) => {
      if (line.includes("the mesh is up")) kill();
    });
    // The testbed re-raises the signal once everything is removed: the exit says "interrupted".
    assert.ok(code === 0 || signal === "SIGINT", `exit ${code} ${signal}: ${out}`);
    assert.match(out, /interrupted/);
    for (const n of namespaces(out)) assert.equal(existsSync(`/run/netns/${n}`), false, `${n} was removed`);
    const runId = /weft-([0-9a-f]{6})-n-node-a/.exec(out)?.[1] ?? assert.fail(out);
    for (const node of ["node-a", "node-b"]) {
      assert.equal(existsSync(`/sys/fs/bpf/weft-t-mesh-${runId}-${node}`), false, "pin roots removed");
    }
  });
});
