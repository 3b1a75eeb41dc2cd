// UDP DNS client: sends one query to --server:--port and prints the answers, the rcode and the
// address the reply came from (which DNS capture must make look like the server it asked).
// Usage: dns-client.js --server IP [--port 53] --name N [--type A|AAAA] [--timeout ms]
import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { isIPv6 } from "node:net";
import { decode, encode, RECURSION_DESIRED, type RecordType } from "dns-packet";
import { args, emit, endpoint, fail, requirePort } from "./common.js";

const opts = args({
  server: { type: "string" },
  port: { type: "string", default: "53" },
  name: { type: "string", default: "example.test" },
  type: { type: "string", default: "A" },
  timeout: { type: "string", default: "5000" },
});
if (opts.server === undefined) fail("--server is required");
const server = opts.server;
const port = requirePort(opts.port);
const id = randomInt(0, 65536);
const socket = createSocket(isIPv6(server) ? "udp6" : "udp4");
setTimeout(
  () => fail(`no reply from ${server}:${port} within ${opts.timeout} ms`),
  Number(opts.timeout),
).unref();
socket.on("error", (e) => fail(e));
socket.on("message", (msg, rinfo) => {
  const reply = decode(msg);
  if (reply.id !== id) return; // not ours
  emit({
    ok: true,
    id,
    // dns-packet decodes the rcode as a name; its type definitions omit the field.
    rcode: (reply as { rcode?: string }).rcode ?? "NOERROR",
    answers: (reply.answers ?? []).map((a) => ({
      name: a.name,
      type: a.type,
      data: "data" in a ? a.data : undefined,
    })),
    replyFrom: endpoint(rinfo.address, rinfo.port),
  });
  socket.close();
});
const query = encode({
  type: "query",
  id,
  flags: RECURSION_DESIRED,
  questions: [{ type: opts.type as RecordType, name: opts.name }],
});
socket.send(query, port, server);
