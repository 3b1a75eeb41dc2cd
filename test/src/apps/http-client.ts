// HTTP client for the echo servers: HTTP/1.1 (node:http) or, with --h2, HTTP/2 prior knowledge
// (node:http2). Prints {ok, status, headers, body (parsed JSON when it is JSON), local}.
// Usage: http-client.js --url http://H:P/path [--method M] [--header k:v]... [--body B] [--h2]
import { request } from "node:http";
import { connect, constants } from "node:http2";
import { args, emit, endpoint, fail } from "./common.js";

const opts = args({
  url: { type: "string" },
  method: { type: "string", default: "GET" },
  header: { type: "string", multiple: true, default: [] },
  body: { type: "string", default: "" },
  h2: { type: "boolean", default: false },
  timeout: { type: "string", default: "8000" },
});
if (opts.url === undefined) fail("--url is required");
const url = new URL(opts.url);
const headers: Record<string, string> = {};
for (const h of opts.header) {
  const i = h.indexOf(":");
  if (i <= 0) fail(`--header must be name:value, got ${h}`);
  headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
}
setTimeout(() => fail(`timed out after ${opts.timeout} ms`), Number(opts.timeout)).unref();

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

if (opts.h2) {
  const session = connect(url.origin);
  session.on("error", (e) => fail(e));
  const stream = session.request(
    {
      [constants.HTTP2_HEADER_METHOD]: opts.method,
      [constants.HTTP2_HEADER_PATH]: url.pathname + url.search,
      ...headers,
    },
    { endStream: false },
  ); // node:http2 ends GET/HEAD streams at once unless told otherwise
  stream.on("error", (e) => fail(e));
  const chunks: Buffer[] = [];
  let status = 0;
  let resHeaders: Record<string, unknown> = {};
  stream.on("response", (h) => {
    status = Number(h[constants.HTTP2_HEADER_STATUS]);
    resHeaders = { ...h };
  });
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => {
    const local = endpoint(session.socket.localAddress, session.socket.localPort);
    emit({
      ok: true,
      status,
      headers: resHeaders,
      body: parseBody(Buffer.concat(chunks).toString("utf8")),
      local,
    });
    session.close();
  });
  stream.end(opts.body);
} else {
  const req = request(url, { method: opts.method, headers, agent: false }, (res) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => {
      const local = endpoint(req.socket?.localAddress, req.socket?.localPort);
      emit({
        ok: true,
        status: res.statusCode,
        headers: res.headers,
        body: parseBody(Buffer.concat(chunks).toString("utf8")),
        local,
      });
    });
  });
  req.on("error", (e) => fail(e));
  req.end(opts.body);
}
