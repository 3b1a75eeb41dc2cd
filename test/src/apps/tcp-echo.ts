// Raw TCP echo server. Each connection first receives one JSON line telling what the server saw
// ({"peer":{address,port},"local":{address,port}}), then every byte it sends comes back.
// Usage: tcp-echo.js --port P [--host ::]
import { createServer } from "node:net";
import { announceListening, args, emit, endpoint, exitOnSigterm, requirePort } from "./common.js";

const opts = args({ port: { type: "string" }, host: { type: "string", default: "::" } });
const server = createServer({ allowHalfOpen: true }, (socket) => {
  const seen = {
    peer: endpoint(socket.remoteAddress, socket.remotePort),
    local: endpoint(socket.localAddress, socket.localPort),
  };
  emit({ event: "connection", ...seen });
  socket.on("error", (e) => emit({ event: "socket-error", error: e.message }));
  socket.write(JSON.stringify(seen) + "\n");
  // pipe() ends our side after the client's FIN, once everything has been echoed.
  socket.pipe(socket);
});
server.listen({ port: requirePort(opts.port), host: opts.host, ipv6Only: false }, () =>
  announceListening("tcp-echo", server.address()),
);
exitOnSigterm(() => server.close());
