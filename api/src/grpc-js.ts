// grpc-js client constructors for weft's services. A module of its own so that importing
// @weft/api does not load grpc-js: the controller's tests and tools use these; the data plane
// (ztunnel, waypoint) calls the controller through the lean client in grpc-http2.ts.
import * as grpc from "@grpc/grpc-js";
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
  DiscoveryResponse,
  DeltaDiscoveryResponse,
} from "./gen/envoy/service/discovery/v3/discovery_pb.gen.js";
import type { IstioCertificateRequest, IstioCertificateResponse } from "./gen/istio/v1/auth/ca_pb.gen.js";
import type { Encodable } from "./grpc.js";
import { AdsService, CaService } from "./index.js";

/** Typed ADS client, e.g. `new AdsClient("127.0.0.1:15012", creds).deltaAggregatedResources()`. */
export interface AdsClient extends grpc.Client {
  deltaAggregatedResources(
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<Encodable<DeltaDiscoveryRequest>, DeltaDiscoveryResponse>;
  streamAggregatedResources(
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
}
export type GrpcClientConstructor<C> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => C;
export const AdsClient = grpc.makeGenericClientConstructor(
  AdsService,
  "AggregatedDiscoveryService",
) as unknown as GrpcClientConstructor<AdsClient>;

/** Typed CA client (callback style, as grpc-js generates). */
export interface CaClient extends grpc.Client {
  createCertificate(
    request: IstioCertificateRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<IstioCertificateResponse>,
  ): grpc.ClientUnaryCall;
  createCertificate(
    request: IstioCertificateRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<IstioCertificateResponse>,
  ): grpc.ClientUnaryCall;
}
export const CaClient = grpc.makeGenericClientConstructor(
  CaService,
  "IstioCertificateService",
) as unknown as GrpcClientConstructor<CaClient>;
