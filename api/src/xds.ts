// envoy.service.discovery.v3: delta/SotW discovery messages and the ADS service descriptor.
export * from "./gen/envoy/service/discovery/v3/discovery_pb.gen.js";
export * from "./gen/envoy/service/discovery/v3/ads_pb.gen.js";
