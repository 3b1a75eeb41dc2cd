// HTTP/1.1 echo server: answers every request with a JSON EchoReport (method, path, headers, body,
// the remote address/port and local address/port it saw). Usage: http-echo.js --port P [--host ::]
import { createServer } from "node:http";
import { announceListening, args, exitOnSigterm, requirePort } from "./common.js";
import { echo } from "./http-echo-handler.js";

const opts = args({ port: { type: "string" }, host: { type: "string", default: "::" } });
const server = createServer(echo);
server.listen({ port: requirePort(opts.port), host: opts.host, ipv6Only: false }, () =>
  announceListening("http-echo", server.address()),
);
exitOnSigterm(() => {
  server.closeAllConnections();
  server.close();
});
