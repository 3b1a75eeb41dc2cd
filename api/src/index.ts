// @weft/api: the wire schemas every weft component speaks (DESIGN §5, §6), generated from
// api/proto by `npm run gen`, plus the small helpers everyone needs around them: xDS type URLs,
// Any packing, grpc-js service definitions and clients (loading this module does not load grpc-js:
// see grpc-js.ts) and the lean gRPC client of the data plane (grpc-http2.ts).
//
// Upstream packages are exported as namespaces named after the proto package, because their
// message names collide (istio.workload.Address vs istio.security.Address, two Localities, ...):
//   workload.Workload, workload.WorkloadSchema, security.Authorization, xds.DeltaDiscoveryRequest,
//   ca.IstioCertificateRequest, core.Node, rpc.Status, weft.HttpRoute
// The most used schemas are also exported flat under unambiguous names.
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { AggregatedDiscoveryService } from "./gen/envoy/service/discovery/v3/ads_pb.gen.js";
import { IstioCertificateService } from "./gen/istio/v1/auth/ca_pb.gen.js";

export * as workload from "./gen/istio/workload/workload_pb.gen.js";
export * as security from "./gen/istio/security/authorization_pb.gen.js";
export * as ca from "./gen/istio/v1/auth/ca_pb.gen.js";
export * as xds from "./xds.js";
export * as core from "./gen/envoy/config/core/v3/base_pb.gen.js";
export * as rpc from "./gen/google/rpc/status_pb.gen.js";
export * as weft from "./weft.js";

// Flat exports of the schemas most code touches. `Address` here is the WDS one.
export {
  AddressSchema,
  WorkloadSchema,
  ServiceSchema,
  TunnelProtocol,
  WorkloadStatus,
} from "./gen/istio/workload/workload_pb.gen.js";
export type { Address, Workload, Service } from "./gen/istio/workload/workload_pb.gen.js";
export { AuthorizationSchema } from "./gen/istio/security/authorization_pb.gen.js";
export type { Authorization } from "./gen/istio/security/authorization_pb.gen.js";
export {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  ResourceSchema,
} from "./gen/envoy/service/discovery/v3/discovery_pb.gen.js";
export type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  Resource,
} from "./gen/envoy/service/discovery/v3/discovery_pb.gen.js";
export { NodeSchema } from "./gen/envoy/config/core/v3/base_pb.gen.js";
export type { Node } from "./gen/envoy/config/core/v3/base_pb.gen.js";
export { StatusSchema } from "./gen/google/rpc/status_pb.gen.js";
export type { Status } from "./gen/google/rpc/status_pb.gen.js";
export {
  IstioCertificateRequestSchema,
  IstioCertificateResponseSchema,
} from "./gen/istio/v1/auth/ca_pb.gen.js";
export type { IstioCertificateRequest, IstioCertificateResponse } from "./gen/istio/v1/auth/ca_pb.gen.js";
export { HttpRouteSchema, GrpcRouteSchema } from "./gen/weft/v1alpha1/route_pb.gen.js";
export type { HttpRoute, GrpcRoute } from "./gen/weft/v1alpha1/route_pb.gen.js";
export { TrafficPolicySchema } from "./gen/weft/v1alpha1/traffic_policy_pb.gen.js";
export type { TrafficPolicy } from "./gen/weft/v1alpha1/traffic_policy_pb.gen.js";
export { L7AuthorizationSchema } from "./gen/weft/v1alpha1/authorization_pb.gen.js";
export type { L7Authorization } from "./gen/weft/v1alpha1/authorization_pb.gen.js";
export { AggregatedDiscoveryService, IstioCertificateService };
export { PreEncoded, grpcServiceDefinition, isPreEncoded } from "./grpc.js";
export { encodeDeltaAck, encodeDeltaResponse } from "./xds-wire.js";
export type { DeltaResponseParts } from "./xds-wire.js";
export { NACK_CODE_INVALID_ARGUMENT, NACK_REJECTED_FIELD, encodeNackDetail, rejectedNames } from "./nack.js";
export type { Encodable, GrpcHandler, GrpcHandlers, GrpcServiceDefinition } from "./grpc.js";

const TYPE_URL_PREFIX = "type.googleapis.com/";

/** xDS resource type URLs (DeltaDiscoveryRequest.type_url, Any.type_url). */
export const TYPE_URL = {
  Address: "type.googleapis.com/istio.workload.Address",
  Authorization: "type.googleapis.com/istio.security.Authorization",
  HttpRoute: "type.googleapis.com/weft.v1alpha1.HttpRoute",
  GrpcRoute: "type.googleapis.com/weft.v1alpha1.GrpcRoute",
  TrafficPolicy: "type.googleapis.com/weft.v1alpha1.TrafficPolicy",
  L7Authorization: "type.googleapis.com/weft.v1alpha1.L7Authorization",
} as const;
export type TypeUrl = (typeof TYPE_URL)[keyof typeof TYPE_URL];

/** The type URL an Any of this schema carries. */
export function typeUrlOf(schema: DescMessage): string {
  return TYPE_URL_PREFIX + schema.typeName;
}

/** Wrap a message in google.protobuf.Any with type URL `type.googleapis.com/<full name>`. */
export function packAny<D extends DescMessage>(schema: D, message: MessageShape<D>): Any {
  return anyPack(schema, message);
}

/**
 * Unwrap an Any. Returns undefined when the Any carries another type; throws when the bytes are
 * not a valid encoding of `schema` (callers NACK that resource).
 */
export function unpackAny<D extends DescMessage>(schema: D, any: Any): MessageShape<D> | undefined {
  return anyUnpack(any, schema);
}

export {
  AdsClient,
  AdsService,
  CaClient,
  CaService,
  type AdsHandlers,
  type CaHandlers,
  type GrpcClientConstructor,
} from "./grpc-js.js";
import { AdsService, CaService } from "./grpc-js.js";

/** The delta ADS rpc's HTTP/2 path, for clients on the lean transport (grpc-http2.ts). */
export const DELTA_ADS_PATH: string = AdsService.deltaAggregatedResources.path;
/** The CA's CreateCertificate rpc's HTTP/2 path, for clients on the lean transport. */
export const CREATE_CERTIFICATE_PATH: string = CaService.createCertificate.path;
export {
  GrpcCallError,
  GrpcDeframer,
  GrpcHttp2Client,
  GrpcStatus,
  frameGrpcMessage,
  grpcCodeForHttpStatus,
  grpcStatusName,
  type GrpcBidiStream,
  type GrpcCallOptions,
  type GrpcCallStatus,
  type GrpcStatusCode,
  type GrpcHttp2ClientOptions,
  type GrpcHttp2Credentials,
  type GrpcStreamHandlers,
} from "./grpc-http2.js";
