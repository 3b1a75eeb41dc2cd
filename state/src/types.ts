// Plain data the data plane routes and authorizes with. These mirror the concepts of Istio's
// workload API (istio.workload.Address / istio.security.Authorization) so that the xDS client can
// convert decoded protobuf messages into them one to one, but they are our own types: the store
// and the decisions never see protobuf classes.
//
// Conventions: every IP address is canonical text (see ip.ts: IPv4 dotted quad, IPv6 RFC 5952
// lowercase compressed, IPv4-mapped IPv6 unmapped to IPv4). Keys are strings so that indexes are
// plain Maps.

export type TunnelProtocol = "NONE" | "HBONE";
export type HealthStatus = "Healthy" | "Unhealthy";
export type WorkloadType = "DEPLOYMENT" | "CRONJOB" | "POD" | "JOB";

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

/** Where a waypoint (or network gateway) is reached: by address or by a service hostname. */
export type GatewayDestination =
  | { readonly kind: "address"; readonly network: string; readonly address: string }
  | { readonly kind: "hostname"; readonly namespace: string; readonly hostname: string };

export interface GatewayAddress {
  readonly destination: GatewayDestination;
  /** Port the gateway accepts HBONE on (1..65535; the xDS conversion defaults an unset one to 15008). */
  readonly hboneMtlsPort: number;
}

/** Service port → target port, as Istio's PortList. A target port of 0 means "not known here". */
export type PortMap = Readonly<Record<number, number>>;

/** A "native" tunnel lets the workload itself terminate HBONE on the given port (Istio's ApplicationTunnel). */
export interface NativeTunnel {
  readonly protocol: "NONE" | "PROXY";
  readonly port?: number;
}

export interface Workload {
  /** Globally unique, e.g. `Kubernetes//Pod/default/app-1`. The xDS resource name. */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly addresses: readonly string[];
  readonly network: string;
  readonly node: string;
  readonly serviceAccount: string;
  /** Required here; the xDS conversion defaults Istio's empty trust_domain to `cluster.local`. */
  readonly trustDomain: string;
  readonly tunnelProtocol: TunnelProtocol;
  readonly waypoint?: GatewayAddress;
  readonly locality: Locality;
  /** Keyed by service key `namespace/hostname`: the ports this workload serves for that service. */
  readonly services: Readonly<Record<string, PortMap>>;
  /** Keys (`namespace/name`) of WORKLOAD_SELECTOR-scoped authorization policies selecting this workload. */
  readonly authorizationPolicies: readonly string[];
  /** Keys (`namespace/name`) of workload-scoped PeerAuthentications selecting this workload. */
  readonly peerAuthentications?: readonly string[];
  readonly status: HealthStatus;
  readonly canonicalName: string;
  readonly canonicalRevision?: string;
  readonly workloadName: string;
  readonly workloadType: WorkloadType;
  readonly clusterId: string;
  readonly nativeTunnel?: NativeTunnel;
}

export interface NetworkAddress {
  readonly network: string;
  readonly address: string;
}

export interface ServicePort {
  readonly servicePort: number;
  /** 0 when the Service names its target port: the per-workload mapping then decides. */
  readonly targetPort: number;
}

export type LoadBalancingMode = "STRICT" | "FAILOVER" | "UNSPECIFIED";
export type LoadBalancingScope = "NETWORK" | "REGION" | "ZONE" | "SUBZONE" | "NODE" | "CLUSTER";
export type HealthPolicy = "ONLY_HEALTHY" | "ALLOW_ALL";

export interface LoadBalancing {
  readonly mode: LoadBalancingMode;
  /** Ordered, broadest first (e.g. REGION, ZONE, NODE): an endpoint's rank is how long a prefix it matches. */
  readonly routingPreference: readonly LoadBalancingScope[];
  readonly healthPolicy?: HealthPolicy;
}

export interface Service {
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly vips: readonly NetworkAddress[];
  readonly ports: readonly ServicePort[];
  /** Extra identities an endpoint of this service may present (besides its own). */
  readonly subjectAltNames: readonly string[];
  readonly waypoint?: GatewayAddress;
  readonly loadBalancing?: LoadBalancing;
}

/** Istio string match; `presence` matches any non-empty value. */
export type StringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly suffix: string }
  | { readonly presence: true };

export interface ServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/**
 * One conjunction: every non-empty field must match (values within a field OR together), and no
 * value of a non-empty `not*` field may match. IP fields are CIDRs (`10.0.0.0/8`, or a bare IP).
 */
export interface Match {
  readonly namespaces?: readonly StringMatch[];
  readonly notNamespaces?: readonly StringMatch[];
  readonly principals?: readonly StringMatch[];
  readonly notPrincipals?: readonly StringMatch[];
  readonly serviceAccounts?: readonly ServiceAccountMatch[];
  readonly notServiceAccounts?: readonly ServiceAccountMatch[];
  readonly sourceIps?: readonly string[];
  readonly notSourceIps?: readonly string[];
  readonly destinationIps?: readonly string[];
  readonly notDestinationIps?: readonly string[];
  readonly destinationPorts?: readonly number[];
  readonly notDestinationPorts?: readonly number[];
}

/** Any of `matches` (an empty clause matches everything). */
export interface Clause {
  readonly matches: readonly Match[];
}

/** All of `clauses` (a rule without clauses matches everything). */
export interface Rule {
  readonly clauses: readonly Clause[];
}

export type AuthorizationScope = "GLOBAL" | "NAMESPACE" | "WORKLOAD_SELECTOR";
export type AuthorizationAction = "ALLOW" | "DENY" | "AUDIT";

/**
 * Istio's istio.security.Authorization: the policy matches when ANY rule matches; a rule matches
 * when ALL its clauses match; a clause matches when ANY of its matches does. No rules = never matches
 * (so an ALLOW policy without rules denies everything it applies to, as in Istio).
 */
export interface Authorization {
  readonly name: string;
  readonly namespace: string;
  readonly scope: AuthorizationScope;
  readonly action: AuthorizationAction;
  readonly rules: readonly Rule[];
  readonly dryRun: boolean;
}

export type PeerAuthenticationMode = "UNSET" | "DISABLE" | "PERMISSIVE" | "STRICT";
export type PeerAuthenticationScope = "MESH" | "NAMESPACE" | "WORKLOAD_SELECTOR";

/**
 * STRICT refuses plaintext; PERMISSIVE and DISABLE accept it; UNSET inherits from the broader scope.
 * MESH scope = the root namespace's namespace-wide policy; WORKLOAD_SELECTOR policies apply to the
 * workloads that list them in `peerAuthentications`.
 */
export interface PeerAuthentication {
  readonly name: string;
  readonly namespace: string;
  readonly scope: PeerAuthenticationScope;
  readonly mode: PeerAuthenticationMode;
  /** Per target port overrides (workload scope only, as in Istio). */
  readonly portLevelMtls?: Readonly<Record<number, PeerAuthenticationMode>>;
}

/** What the xDS client hands the store. The resource's key is derived from it (see `resourceKey`). */
export type Resource =
  | { readonly kind: "workload"; readonly workload: Workload }
  | { readonly kind: "service"; readonly service: Service }
  | { readonly kind: "authorization"; readonly authorization: Authorization }
  | { readonly kind: "peerAuthentication"; readonly peerAuthentication: PeerAuthentication };

export type ResourceKind = Resource["kind"];

/** A removal names a key; with a kind it removes only that kind (xDS removals are per type URL). */
export type ResourceRef = string | { readonly kind: ResourceKind; readonly key: string };
