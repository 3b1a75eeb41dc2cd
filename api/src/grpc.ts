// grpc-js service definitions built from the generated protobuf-es descriptors, so servers and
// clients use the same schemas as everything else and no second code generator (grpc-tools /
// proto-loader) is needed. Hand-written because protobuf-es targets Connect, not grpc-js; the
// mapping is mechanical: one MethodDefinition per rpc, binary codec via toBinary/fromBinary.
import type * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, Message, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";

type Req<M> = M extends { input: infer I extends DescMessage } ? MessageShape<I> : never;
type Res<M> = M extends { output: infer O extends DescMessage } ? MessageShape<O> : never;

// Symbol.for: the same symbol in every copy of this module, so a PreEncoded made by one copy of
// @weft/api (a second install in a nested node_modules, or a bundle) is still recognised by the
// serializers of another, where `instanceof` would fail and the bytes would be handed to toBinary.
const PRE_ENCODED: unique symbol = Symbol.for("weft.api.PreEncoded") as never;

/**
 * A message already in its wire encoding, written to a grpc-js stream as it is: the serializers
 * below pass its bytes through instead of encoding. For hot paths that send the same bytes many
 * times (the xDS server's pushes to every client, a client's ACKs). `M` only ties the bytes to the
 * message type they encode, so one cannot be written where another message is expected.
 */
export class PreEncoded<M = Message> {
  declare readonly message?: M;
  /** A brand in the global symbol registry, not `instanceof`: see isPreEncoded. */
  readonly [PRE_ENCODED] = true;
  constructor(readonly bytes: Uint8Array) {}
}

/** True for a PreEncoded from any copy of this module. */
export function isPreEncoded(value: unknown): value is PreEncoded {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { [PRE_ENCODED]?: unknown })[PRE_ENCODED] === true &&
    (value as { bytes?: unknown }).bytes instanceof Uint8Array
  );
}

/** What a stream accepts for a message: the message, or its encoding. */
export type Encodable<M> = M | PreEncoded<M>;

/** A grpc-js ServiceDefinition keyed by the rpc's lowerCamelCase name, fully typed. */
export type GrpcServiceDefinition<S extends GenServiceMethods> = {
  readonly [K in keyof S]: grpc.MethodDefinition<Req<S[K]>, Res<S[K]>>;
};

/** The handler grpc-js expects for one rpc, chosen by its streaming kind. */
export type GrpcHandler<M> = M extends { methodKind: "unary" }
  ? grpc.handleUnaryCall<Req<M>, Res<M>>
  : M extends { methodKind: "server_streaming" }
    ? grpc.handleServerStreamingCall<Req<M>, Encodable<Res<M>>>
    : M extends { methodKind: "client_streaming" }
      ? grpc.handleClientStreamingCall<Req<M>, Res<M>>
      : grpc.handleBidiStreamingCall<Req<M>, Encodable<Res<M>>>;

/** The implementation object for `server.addService(definition, impl)`. */
export type GrpcHandlers<S extends GenServiceMethods> = { [K in keyof S]: GrpcHandler<S[K]> };

function serializer<D extends DescMessage>(schema: D): grpc.serialize<Encodable<MessageShape<D>>> {
  return (message) => {
    const bytes = isPreEncoded(message) ? message.bytes : toBinary(schema, message);
    // Wrap, don't copy: grpc-js only needs a Buffer view of the encoded bytes.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): grpc.deserialize<MessageShape<D>> {
  // Unknown fields are kept (the default), so newer peers' additions survive a round trip.
  return (bytes) => fromBinary(schema, bytes);
}

/** Build a grpc-js ServiceDefinition from a generated service descriptor. */
export function grpcServiceDefinition<S extends GenServiceMethods>(
  service: GenService<S>,
): GrpcServiceDefinition<S> & grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input) as grpc.serialize<unknown>,
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output) as grpc.serialize<unknown>,
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition as GrpcServiceDefinition<S> & grpc.ServiceDefinition;
}
