// weft's own L7 configuration package (weft.v1alpha1), one namespace for all its files.
export * from "./gen/weft/v1alpha1/common_pb.gen.js";
export * from "./gen/weft/v1alpha1/route_pb.gen.js";
export * from "./gen/weft/v1alpha1/traffic_policy_pb.gen.js";
export * from "./gen/weft/v1alpha1/authorization_pb.gen.js";
