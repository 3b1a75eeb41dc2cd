// Hand-assembled encodings of the two delta xDS messages sent once per client per push: the
// server's DeltaDiscoveryResponse and the client's ACK. Both are a few strings around bytes that
// are the same for every client (the encoded resources), so building them with BinaryWriter skips
// create() and the reflective toBinary() walk, and lets the server encode a resource once for all
// clients. The output is byte-for-byte what toBinary() writes for the equivalent message (fields
// in number order, proto3 defaults left out); api/test/xds-wire.test.ts holds it to that.
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

// Field numbers from api/proto/envoy/service/discovery/v3/discovery.proto.
const RESPONSE_SYSTEM_VERSION_INFO = 1;
const RESPONSE_RESOURCES = 2;
const RESPONSE_TYPE_URL = 4;
const RESPONSE_NONCE = 5;
const RESPONSE_REMOVED_RESOURCES = 6;
const RESPONSE_CONTROL_PLANE = 7;
const CONTROL_PLANE_IDENTIFIER = 1;
const REQUEST_TYPE_URL = 2;
const REQUEST_RESPONSE_NONCE = 6;

// One writer for the process: finish() copies the bytes out and keeps the buffer, so after the
// first large push no response grows a buffer again. Nothing below calls out while writing.
const writer = new BinaryWriter();

export interface DeltaResponseParts {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly systemVersionInfo: string;
  /** Each an encoded envoy.service.discovery.v3.Resource, in send order. */
  readonly resources: readonly Uint8Array[];
  readonly removedResources: readonly string[];
  /** ControlPlane.identifier; undefined leaves control_plane out. */
  readonly controlPlane: string | undefined;
}

function string(fieldNo: number, value: string): void {
  if (value !== "") writer.tag(fieldNo, WireType.LengthDelimited).string(value);
}

/** The DeltaDiscoveryResponse `parts` describe, encoded. */
export function encodeDeltaResponse(parts: DeltaResponseParts): Uint8Array {
  string(RESPONSE_SYSTEM_VERSION_INFO, parts.systemVersionInfo);
  for (const r of parts.resources) writer.tag(RESPONSE_RESOURCES, WireType.LengthDelimited).bytes(r);
  string(RESPONSE_TYPE_URL, parts.typeUrl);
  string(RESPONSE_NONCE, parts.nonce);
  // Repeated strings keep empty elements; only singular ones drop the default.
  for (const n of parts.removedResources)
    writer.tag(RESPONSE_REMOVED_RESOURCES, WireType.LengthDelimited).string(n);
  if (parts.controlPlane !== undefined) {
    writer.tag(RESPONSE_CONTROL_PLANE, WireType.LengthDelimited).fork();
    string(CONTROL_PLANE_IDENTIFIER, parts.controlPlane);
    writer.join();
  }
  return writer.finish();
}

/** The DeltaDiscoveryRequest that ACKs response `nonce` of `typeUrl`, encoded. */
export function encodeDeltaAck(typeUrl: string, nonce: string): Uint8Array {
  string(REQUEST_TYPE_URL, typeUrl);
  string(REQUEST_RESPONSE_NONCE, nonce);
  return writer.finish();
}
