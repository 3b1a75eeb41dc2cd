// gRPC echo server (grpc-js, insecure): replies {message, peer, metadata, path}.
// Usage: grpc-echo.js --port P [--host ::]
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { announceListening, args, emit, endpoint, exitOnSigterm, fail, requirePort } from "./common.js";
import { ECHO_SERVICE, type GrpcEchoReply } from "./grpc-echo-service.js";

const opts = args({ port: { type: "string" }, host: { type: "string", default: "::" } });
const server = new Server();
server.addService(ECHO_SERVICE, {
  echo(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
    const request = JSON.parse(call.request.toString("utf8")) as { message?: string };
    const peer = call.getPeer();
    const colon = peer.lastIndexOf(":");
    const reply: GrpcEchoReply = {
      message: request.message ?? "",
      peer,
      remote: endpoint(peer.slice(0, colon).replace(/^\[|\]$/g, ""), Number(peer.slice(colon + 1))),
      metadata: call.metadata.getMap(),
      path: call.getPath(),
    };
    emit({ event: "call", ...reply });
    callback(null, Buffer.from(JSON.stringify(reply)));
  },
});
const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
server.bindAsync(`${host}:${requirePort(opts.port)}`, ServerCredentials.createInsecure(), (err, port) => {
  if (err) fail(err);
  announceListening("grpc-echo", { address: opts.host, family: "", port });
});
exitOnSigterm(() => server.forceShutdown());
