// HTTP/2 cleartext (h2c, prior knowledge) echo server with the same JSON EchoReport as http-echo.
// Usage: h2-echo.js --port P [--host ::]
import { createServer } from "node:http2";
import { announceListening, args, exitOnSigterm, requirePort } from "./common.js";
import { echo } from "./http-echo-handler.js";

const opts = args({ port: { type: "string" }, host: { type: "string", default: "::" } });
const server = createServer(echo);
server.listen({ port: requirePort(opts.port), host: opts.host, ipv6Only: false }, () =>
  announceListening("h2-echo", server.address()),
);
exitOnSigterm(() => server.close());
