// A one-method gRPC service defined without protoc: messages are raw bytes (JSON inside), so
// serialize/deserialize are Buffer passthroughs. Full path: /weft.test.Echo/Echo.
import type { ServiceDefinition } from "@grpc/grpc-js";

const passthrough = (b: Buffer): Buffer => b;

export const ECHO_SERVICE = {
  echo: {
    path: "/weft.test.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
    originalName: "Echo",
  },
} satisfies ServiceDefinition;

export interface GrpcEchoReply {
  readonly message: string;
  /** The peer the server saw, as grpc-js reports it ("ipv4:a.b.c.d:port" / "ipv6:[..]:port"-like). */
  readonly peer: string;
  /** `peer` parsed, IPv4-mapped addresses shown plain. */
  readonly remote: { address: string; port: number };
  readonly metadata: Record<string, unknown>;
  readonly path: string;
}
