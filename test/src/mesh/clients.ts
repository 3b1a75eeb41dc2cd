// Client programs run inside pods for the mesh suites (inline scripts: `node -e`), each printing
// one JSON line. They use only Node's net module, as any app would.
import type { World } from "../netns/index.js";

/** Sends `count` copies of `marker` to host:port (an echo), half-closes, checks the echo. */
export const MARKER_CLIENT = `
const net = require("net");
const [host, port, marker, count] = [process.argv[1], Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const payload = Buffer.from(marker.repeat(count));
const s = net.connect({ host, port, allowHalfOpen: true });
let got = Buffer.alloc(0);
s.on("data", (d) => (got = Buffer.concat([got, d])));
s.on("error", (e) => { console.log(JSON.stringify({ ok: false, error: e.code || e.message })); process.exit(1); });
s.on("end", () => {
  const body = got.subarray(got.indexOf(10) + 1);
  console.log(JSON.stringify({ ok: body.equals(payload), bytes: body.length }));
  s.end();
});
s.on("connect", () => { s.write(payload); s.end(); });
`;

/**
 * Opens `n` connections to an echo and holds them all open at once; when every one is connected,
 * each sends `size` bytes, half-closes and checks the echo.
 */
export const CONCURRENT_CLIENT = `
const net = require("net");
const [host, port, n, size] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
let ok = 0, failed = 0, connected = 0, settledCount = 0;
const errors = {};
const conns = [];
const finish = () => { if (++settledCount === n) { console.log(JSON.stringify({ ok, failed, connected, errors })); process.exit(failed === 0 ? 0 : 1); } };
let sent = false;
const go = () => { if (sent || connected + failed !== n) return; sent = true; for (const c of conns) { c.s.write(c.payload); c.s.end(); } };
for (let i = 0; i < n; i++) {
  const c = { s: net.connect({ host, port, allowHalfOpen: true }), payload: Buffer.alloc(size, i % 251), got: [], done: false };
  const settle = (good, why) => { if (c.done) return; c.done = true; if (good) ok++; else { failed++; errors[why] = (errors[why] || 0) + 1; } finish(); go(); };
  c.s.on("connect", () => { connected++; conns.push(c); go(); });
  c.s.on("data", (d) => c.got.push(d));
  c.s.on("error", (e) => settle(false, e.code || e.message));
  c.s.on("end", () => { const all = Buffer.concat(c.got); settle(all.subarray(all.indexOf(10) + 1).equals(c.payload), "mismatch"); c.s.end(); });
}
setTimeout(() => { console.log(JSON.stringify({ ok, failed: n - ok, connected, errors, timeout: true })); process.exit(1); }, 120000).unref();
`;

/** Connects, reads the echo's header line, stays idle `idleMs`, then checks the connection still echoes. */
export const IDLE_CLIENT = `
const net = require("net");
const [host, port, idleMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const s = net.connect({ host, port, allowHalfOpen: true });
let got = "";
let phase = "header";
s.on("data", (d) => {
  got += d;
  if (phase === "header" && got.includes("\\n")) {
    phase = "idle";
    got = got.slice(got.indexOf("\\n") + 1);
    setTimeout(() => { phase = "echo"; s.write("still here"); s.end(); }, idleMs);
  }
});
s.on("end", () => { console.log(JSON.stringify({ ok: got === "still here", got })); s.end(); });
s.on("error", (e) => { console.log(JSON.stringify({ ok: false, error: e.code || e.message })); process.exit(1); });
`;

export async function runScript<T>(
  world: World,
  pod: string,
  script: string,
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<T> {
  const r = await world.runInPod(pod, process.execPath, ["-e", script, ...args], {
    name: "client",
    timeoutMs,
  });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  if (!last.startsWith("{")) {
    throw new Error(
      `client in ${pod} printed no result (exit ${r.code ?? r.signal}): ${r.stdout.slice(-1000)} ${r.stderr.slice(-2000)}`,
    );
  }
  return JSON.parse(last) as T;
}
