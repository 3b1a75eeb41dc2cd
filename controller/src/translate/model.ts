// The translation's output as plain data. Field names follow the protobuf messages they become
// (istio.workload.*, istio.security.*, weft.v1alpha1.*) in their JSON (camelCase) spelling, so
// `xds.ts` maps them one to one and golden files read like `toJson` output. IPs are text here;
// they become bytes only in the protobuf mapping.

export type TunnelProtocol = "NONE" | "HBONE";
export type WorkloadStatus = "HEALTHY" | "UNHEALTHY";
export type WorkloadType = "DEPLOYMENT" | "CRONJOB" | "POD" | "JOB";
export type IPFamilies = "AUTOMATIC" | "IPV4_ONLY" | "IPV6_ONLY" | "DUAL";

export interface MeshPort {
  readonly servicePort: number;
  /** 0 on a Service when the target port is named: each workload resolves its own number. */
  readonly targetPort: number;
}

export interface MeshNetworkAddress {
  readonly network: string;
  readonly address: string;
}

/** istio.workload.GatewayAddress: where to send HBONE for a waypoint. */
export interface MeshGatewayAddress {
  readonly hostname?: { readonly namespace: string; readonly hostname: string };
  readonly address?: MeshNetworkAddress;
  readonly hboneMtlsPort: number;
}

export interface MeshLocality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

export interface MeshWorkload {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly addresses: readonly string[];
  readonly network: string;
  readonly tunnelProtocol: TunnelProtocol;
  readonly trustDomain: string;
  readonly serviceAccount: string;
  readonly waypoint?: MeshGatewayAddress;
  readonly node: string;
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly workloadType: WorkloadType;
  readonly workloadName: string;
  /** Keyed `namespace/hostname`, like istio.workload.Workload.services. */
  readonly services: Readonly<Record<string, readonly MeshPort[]>>;
  /** `namespace/name` of WORKLOAD_SELECTOR authorizations that apply to this workload. */
  readonly authorizationPolicies: readonly string[];
  readonly status: WorkloadStatus;
  readonly clusterId: string;
  readonly locality?: MeshLocality;
  readonly networkMode?: "HOST_NETWORK";
}

export interface MeshService {
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly addresses: readonly MeshNetworkAddress[];
  readonly ports: readonly MeshPort[];
  readonly waypoint?: MeshGatewayAddress;
  readonly ipFamilies: IPFamilies;
}

// ---- istio.security (L4, enforced by ztunnel) --------------------------------------------------

export type MeshStringMatch = (
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly suffix: string }
  | { readonly presence: true }
) & { readonly ignoreCase?: true };

export interface MeshCidr {
  readonly address: string;
  readonly length: number;
}

export interface MeshServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** istio.security.Match. Empty lists are left out. */
export interface MeshMatch {
  namespaces?: MeshStringMatch[];
  notNamespaces?: MeshStringMatch[];
  serviceAccounts?: MeshServiceAccountMatch[];
  notServiceAccounts?: MeshServiceAccountMatch[];
  principals?: MeshStringMatch[];
  notPrincipals?: MeshStringMatch[];
  sourceIps?: MeshCidr[];
  notSourceIps?: MeshCidr[];
  destinationIps?: MeshCidr[];
  notDestinationIps?: MeshCidr[];
  destinationPorts?: number[];
  notDestinationPorts?: number[];
}

/** Groups are OR'd; within a group every Rules must match; within Rules any Match. */
export interface MeshAuthorization {
  readonly name: string;
  readonly namespace: string;
  readonly scope: "GLOBAL" | "NAMESPACE" | "WORKLOAD_SELECTOR";
  readonly action: "ALLOW" | "DENY";
  readonly groups: readonly { readonly rules: readonly { readonly matches: readonly MeshMatch[] }[] }[];
  /** Evaluated and logged but not enforced: how an AUDIT policy runs at L4. */
  readonly dryRun?: boolean;
}

// ---- weft.v1alpha1 (L7, enforced by waypoints) -------------------------------------------------

export interface MeshObjectRef {
  readonly kind: "SERVICE" | "GATEWAY";
  readonly namespace: string;
  readonly name: string;
  /** FQDN for a Service, empty for a Gateway. */
  readonly hostname: string;
  /** 0 means every port. */
  readonly port: number;
  readonly sectionName: string;
}

/** weft.v1alpha1.L7Source. Principals are full SPIFFE ids (`spiffe://td/ns/x/sa/y`). */
export interface MeshL7Source {
  principals?: MeshStringMatch[];
  notPrincipals?: MeshStringMatch[];
  namespaces?: MeshStringMatch[];
  notNamespaces?: MeshStringMatch[];
  ipBlocks?: MeshCidr[];
  notIpBlocks?: MeshCidr[];
}

/** weft.v1alpha1.L7Operation. */
export interface MeshL7Operation {
  hosts?: MeshStringMatch[];
  notHosts?: MeshStringMatch[];
  ports?: number[];
  notPorts?: number[];
  methods?: string[];
  notMethods?: string[];
  paths?: MeshStringMatch[];
  notPaths?: MeshStringMatch[];
}

export interface MeshHeaderCondition {
  readonly name: string;
  readonly values: readonly MeshStringMatch[];
  readonly notValues: readonly MeshStringMatch[];
}

/** weft.v1alpha1.L7Rule: every set part must match; within a list any element. */
export interface MeshL7Rule {
  readonly sources: readonly MeshL7Source[];
  readonly operations: readonly MeshL7Operation[];
  readonly headers: readonly MeshHeaderCondition[];
}

/** weft.v1alpha1.L7Authorization. */
export interface MeshL7Authorization {
  readonly name: string;
  readonly namespace: string;
  readonly action: "ALLOW" | "DENY" | "AUDIT";
  /** Services (by hostname) or the waypoint Gateway the policy protects. */
  readonly targets: readonly MeshObjectRef[];
  readonly rules: readonly MeshL7Rule[];
  /** Not on the wire: the waypoints (Gateway `namespace/name`) that enforce this policy. */
  readonly waypoints: readonly string[];
}

export type MeshPathMatch =
  { readonly exact: string } | { readonly prefix: string } | { readonly regex: string };
export type MeshValueMatch = { readonly name: string } & (
  { readonly exact: string } | { readonly regex: string }
);

export interface MeshHeaderModifier {
  readonly set: readonly { name: string; value: string }[];
  readonly add: readonly { name: string; value: string }[];
  readonly remove: readonly string[];
}

export type MeshPathModifier = { readonly replaceFullPath: string } | { readonly replacePrefixMatch: string };

export interface MeshBackendRef {
  /** Absent when the reference did not resolve: its share of traffic is answered with 500. */
  readonly service?: MeshObjectRef;
  readonly weight: number;
}

export type MeshHttpFilter =
  | { readonly requestHeaderModifier: MeshHeaderModifier }
  | { readonly responseHeaderModifier: MeshHeaderModifier }
  | {
      readonly requestRedirect: {
        scheme: string;
        hostname: string;
        path?: MeshPathModifier;
        port: number;
        statusCode: number;
      };
    }
  | { readonly urlRewrite: { hostname: string; path?: MeshPathModifier } }
  | {
      readonly requestMirror: {
        backend: MeshBackendRef;
        fraction?: { numerator: number; denominator: number };
      };
    };

export interface MeshTimeouts {
  readonly requestMs?: number;
  readonly backendRequestMs?: number;
}

export interface MeshHttpRouteRule {
  readonly name: string;
  readonly matches: readonly {
    path?: MeshPathMatch;
    headers: readonly MeshValueMatch[];
    queryParams: readonly MeshValueMatch[];
    method: string;
  }[];
  readonly filters: readonly MeshHttpFilter[];
  readonly backends: readonly MeshBackendRef[];
  readonly timeouts?: MeshTimeouts;
}

export interface MeshGrpcRouteRule {
  readonly name: string;
  readonly matches: readonly {
    method?: { type: "EXACT" | "REGULAR_EXPRESSION"; service: string; method: string };
    headers: readonly MeshValueMatch[];
  }[];
  readonly filters: readonly MeshHttpFilter[];
  readonly backends: readonly MeshBackendRef[];
}

interface MeshRouteCommon {
  readonly name: string;
  readonly namespace: string;
  readonly parentRefs: readonly MeshObjectRef[];
  readonly hostnames: readonly string[];
  /** RFC 3339, or empty when the object has none (file source). */
  readonly creationTimestamp: string;
  /** Waypoints (Gateway `namespace/name`) that serve at least one parent. */
  readonly waypoints: readonly string[];
}

export interface MeshHttpRoute extends MeshRouteCommon {
  readonly rules: readonly MeshHttpRouteRule[];
}

export interface MeshGrpcRoute extends MeshRouteCommon {
  readonly rules: readonly MeshGrpcRouteRule[];
}

/** weft.v1alpha1.TrafficPolicy; durations in milliseconds, absent parts left out. */
export interface MeshTrafficPolicy {
  readonly name: string;
  readonly namespace: string;
  readonly target: MeshObjectRef;
  /** Not on the wire: the waypoints (Gateway `namespace/name`) that need this resource. */
  readonly waypoints: readonly string[];
  readonly connectionLimits?: {
    maxConnections?: number;
    maxPendingRequests?: number;
    maxRequests?: number;
    maxRetries?: number;
    maxRequestsPerConnection?: number;
  };
  readonly outlierDetection?: {
    consecutive5xx?: number;
    intervalMs?: number;
    baseEjectionTimeMs?: number;
    maxEjectionPercent?: number;
    disabled?: boolean;
  };
  readonly retryBudget?: { percent?: number; minRetriesPerSecond?: number };
  readonly localRateLimit?: { maxTokens: number; tokensPerFill: number; fillIntervalMs: number };
  readonly faultInjection?: {
    delay?: { percent: number; fixedDelayMs: number };
    abort?: { percent: number; httpStatus?: number; grpcStatus?: number };
  };
  readonly loadBalancer?: {
    algorithm: "ROUND_ROBIN" | "LEAST_REQUEST" | "RING_HASH";
    hashKey?: { header: string } | { cookie: string } | { queryParam: string } | { sourceIp: true };
    ringSize?: number;
  };
  readonly responseCaching?: {
    enabled: true;
    maxTtlMs?: number;
    maxBodyBytes?: number;
    maxTotalBytes?: number;
  };
}

// ---- status --------------------------------------------------------------------------------------

export type ConditionType = "Accepted" | "ResolvedRefs" | "Programmed";

export interface Condition {
  readonly type: ConditionType;
  readonly status: "True" | "False";
  readonly reason: string;
  readonly message: string;
}

export interface ParentStatus {
  readonly parentRef: {
    readonly kind: string;
    readonly namespace: string;
    readonly name: string;
    readonly port?: number;
  };
  readonly conditions: readonly Condition[];
}

export interface ObjectStatus {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly conditions: readonly Condition[];
  /** Routes only: one entry per parentRef, as Gateway API's RouteStatus. */
  readonly parents?: readonly ParentStatus[];
}

export interface MeshTranslation {
  readonly workloads: readonly MeshWorkload[];
  readonly services: readonly MeshService[];
  readonly authorizations: readonly MeshAuthorization[];
  readonly l7Authorizations: readonly MeshL7Authorization[];
  readonly httpRoutes: readonly MeshHttpRoute[];
  readonly grpcRoutes: readonly MeshGrpcRoute[];
  readonly trafficPolicies: readonly MeshTrafficPolicy[];
  readonly statuses: readonly ObjectStatus[];
}
