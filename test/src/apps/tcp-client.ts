// Raw TCP echo client: sends --bytes of deterministic pseudo-random data (xorshift32 from --seed),
// half-closes, and checks that the sha256 of what came back equals the sha256 of what was sent.
// Prints one JSON line; exit 0 only when the checksums match.
// Usage: tcp-client.js --host H --port P [--bytes N] [--seed S] [--timeout ms]
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { once } from "node:events";
import { args, emit, endpoint, fail, pseudoRandomChunks, requirePort } from "./common.js";

const opts = args({
  host: { type: "string" },
  port: { type: "string" },
  bytes: { type: "string", default: "65536" },
  seed: { type: "string", default: "1" },
  timeout: { type: "string", default: "8000" },
});
const total = Number(opts.bytes);
if (!Number.isInteger(total) || total < 0) fail(`--bytes must be a non-negative integer, got ${opts.bytes}`);
if (opts.host === undefined) fail("--host is required");
const port = requirePort(opts.port);
setTimeout(() => fail(`timed out after ${opts.timeout} ms`), Number(opts.timeout)).unref();

const socket = connect({ host: opts.host, port, allowHalfOpen: true });
socket.on("error", (e) => fail(e, { host: opts.host, port }));
await once(socket, "connect");
const local = endpoint(socket.localAddress, socket.localPort);
const remote = endpoint(socket.remoteAddress, socket.remotePort);

const received = createHash("sha256");
let receivedBytes = 0;
let header = "";
let headerDone = false;
socket.on("data", (chunk: Buffer) => {
  let data = chunk;
  if (!headerDone) {
    const nl = data.indexOf(10);
    if (nl < 0) {
      header += data.toString("utf8");
      return;
    }
    header += data.subarray(0, nl).toString("utf8");
    headerDone = true;
    data = data.subarray(nl + 1);
  }
  received.update(data);
  receivedBytes += data.length;
});
const ended = once(socket, "end");

const sent = createHash("sha256");
for (const chunk of pseudoRandomChunks(Number(opts.seed), total)) {
  sent.update(chunk);
  if (!socket.write(chunk)) await once(socket, "drain");
}
socket.end();
await ended;

const sha256Sent = sent.digest("hex");
const sha256Received = received.digest("hex");
const ok = headerDone && receivedBytes === total && sha256Sent === sha256Received;
emit({
  ok,
  bytesSent: total,
  bytesReceived: receivedBytes,
  sha256Sent,
  sha256Received,
  local,
  remote,
  serverSaw: headerDone ? (JSON.parse(header) as unknown) : null,
});
process.exit(ok ? 0 : 1);
