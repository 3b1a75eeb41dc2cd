// grpc-js service definitions and client constructors for weft's services. grpc-js itself is
// loaded only when a client is first constructed: the data plane (ztunnel, waypoint) imports
// @weft/api but talks to the controller through the lean client in grpc-http2.ts, and grpc-js with
// one channel is ~7.6 MiB of RSS it would carry for nothing. The controller loads grpc-js for its
// server anyway.
import { createRequire } from "node:module";
import type * as grpc from "@grpc/grpc-js";
import { AggregatedDiscoveryService } from "./gen/envoy/service/discovery/v3/ads_pb.gen.js";
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
  DiscoveryResponse,
  DeltaDiscoveryResponse,
} from "./gen/envoy/service/discovery/v3/discovery_pb.gen.js";
import type { IstioCertificateRequest, IstioCertificateResponse } from "./gen/istio/v1/auth/ca_pb.gen.js";
import { IstioCertificateService } from "./gen/istio/v1/auth/ca_pb.gen.js";
import { grpcServiceDefinition, type Encodable, type GrpcHandlers } from "./grpc.js";

/** grpc-js definition of envoy.service.discovery.v3.AggregatedDiscoveryService (delta + SotW). */
export const AdsService = grpcServiceDefinition(AggregatedDiscoveryService);
type AdsMethods = (typeof AggregatedDiscoveryService)["method"];
/**
 * Implementation shape for `server.addService(AdsService, impl)`. weft speaks delta xDS only, so
 * the state-of-the-world rpc may be left out: grpc-js then answers it with UNIMPLEMENTED.
 */
export type AdsHandlers = Pick<GrpcHandlers<AdsMethods>, "deltaAggregatedResources"> &
  Partial<Pick<GrpcHandlers<AdsMethods>, "streamAggregatedResources">>;

/** grpc-js definition of istio.v1.auth.IstioCertificateService. */
export const CaService = grpcServiceDefinition(IstioCertificateService);
/** Implementation shape for `server.addService(CaService, impl)`. */
export type CaHandlers = GrpcHandlers<(typeof IstioCertificateService)["method"]>;

let grpcJs: typeof grpc | undefined;
function loadGrpcJs(): typeof grpc {
  grpcJs ??= createRequire(import.meta.url)("@grpc/grpc-js") as typeof grpc;
  return grpcJs;
}

/**
 * A constructor that builds grpc-js's generic client class on its first use. `new` on a function
 * that returns an object yields that object, so callers write `new AdsClient(...)` as before.
 */
function lazyClient<C>(definition: grpc.ServiceDefinition, serviceName: string): GrpcClientConstructor<C> {
  let ctor: GrpcClientConstructor<C> | undefined;
  return function (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions): C {
    ctor ??= loadGrpcJs().makeGenericClientConstructor(
      definition,
      serviceName,
    ) as unknown as GrpcClientConstructor<C>;
    return new ctor(address, credentials, options);
  } as unknown as GrpcClientConstructor<C>;
}

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
export const AdsClient = lazyClient<AdsClient>(AdsService, "AggregatedDiscoveryService");

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
export const CaClient = lazyClient<CaClient>(CaService, "IstioCertificateService");
