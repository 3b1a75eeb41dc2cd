// The plain translation → protobuf messages (istio.workload, istio.security, weft.v1alpha1),
// packed as Any and named the way clients key them. The only place that knows protobuf shapes.
import { isIP } from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, type Any, type Duration } from "@bufbuild/protobuf/wkt";
import { packAny, security, TYPE_URL, weft, workload } from "@weft/api";
import type {
  MeshAuthorization,
  MeshBackendRef,
  MeshCidr,
  MeshGatewayAddress,
  MeshGrpcRoute,
  MeshHeaderModifier,
  MeshHttpFilter,
  MeshHttpRoute,
  MeshL7Authorization,
  MeshMatch,
  MeshObjectRef,
  MeshPathModifier,
  MeshService,
  MeshStringMatch,
  MeshTimeouts,
  MeshTrafficPolicy,
  MeshTranslation,
  MeshValueMatch,
  MeshWorkload,
} from "./model.js";

/**
 * IP text → network-order bytes (4 or 16). Node has no public helper for this; the parser below
 * relies on `isIP` having accepted the text, so it only expands `::` and an embedded IPv4 tail.
 */
export function ipToBytes(ip: string): Uint8Array {
  const family = isIP(ip);
  if (family === 4) return Uint8Array.from(ip.split(".").map(Number));
  if (family !== 6) throw new Error(`not an IP address: ${ip}`);
  let text = ip.replace(/%.*$/, "");
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    const b = maybeV4.split(".").map(Number);
    tail = [((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0)];
    text = text.slice(0, lastColon + 1) + "0:0"; // the IPv4 tail fills the last two groups
  }
  const [head = "", rest] = text.split("::");
  const parse = (s: string): number[] => (s === "" ? [] : s.split(":").map((h) => parseInt(h, 16)));
  let groups: number[];
  if (rest === undefined) {
    groups = parse(head);
  } else {
    const h = parse(head);
    const r = parse(rest);
    groups = [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  }
  if (tail.length > 0) groups.splice(6, 2, ...tail);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function durationMs(ms: number | undefined): MessageInitShape<typeof weft.TimeoutsSchema>["request"] {
  if (ms === undefined) return undefined;
  return {
    seconds: BigInt(Math.floor(ms / 1000)),
    nanos: (ms % 1000) * 1_000_000,
  } satisfies Partial<Duration>;
}

// ---- istio.workload ---------------------------------------------------------------------------

const TUNNEL = { NONE: workload.TunnelProtocol.NONE, HBONE: workload.TunnelProtocol.HBONE } as const;
const STATUS = {
  HEALTHY: workload.WorkloadStatus.HEALTHY,
  UNHEALTHY: workload.WorkloadStatus.UNHEALTHY,
} as const;
const WORKLOAD_TYPE = {
  DEPLOYMENT: workload.WorkloadType.DEPLOYMENT,
  CRONJOB: workload.WorkloadType.CRONJOB,
  POD: workload.WorkloadType.POD,
  JOB: workload.WorkloadType.JOB,
} as const;
const IP_FAMILIES = {
  AUTOMATIC: workload.IPFamilies.AUTOMATIC,
  IPV4_ONLY: workload.IPFamilies.IPV4_ONLY,
  IPV6_ONLY: workload.IPFamilies.IPV6_ONLY,
  DUAL: workload.IPFamilies.DUAL,
} as const;

function gatewayAddress(g: MeshGatewayAddress): MessageInitShape<typeof workload.GatewayAddressSchema> {
  if (g.hostname)
    return { destination: { case: "hostname", value: g.hostname }, hboneMtlsPort: g.hboneMtlsPort };
  if (g.address) {
    return {
      destination: {
        case: "address",
        value: { network: g.address.network, address: ipToBytes(g.address.address) },
      },
      hboneMtlsPort: g.hboneMtlsPort,
    };
  }
  return { hboneMtlsPort: g.hboneMtlsPort };
}

export function toWorkload(w: MeshWorkload): workload.Workload {
  return create(workload.WorkloadSchema, {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    addresses: w.addresses.map(ipToBytes),
    network: w.network,
    tunnelProtocol: TUNNEL[w.tunnelProtocol],
    trustDomain: w.trustDomain,
    serviceAccount: w.serviceAccount,
    ...(w.waypoint ? { waypoint: gatewayAddress(w.waypoint) } : {}),
    node: w.node,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    workloadType: WORKLOAD_TYPE[w.workloadType],
    workloadName: w.workloadName,
    services: Object.fromEntries(Object.entries(w.services).map(([k, ports]) => [k, { ports: [...ports] }])),
    authorizationPolicies: [...w.authorizationPolicies],
    status: STATUS[w.status],
    clusterId: w.clusterId,
    ...(w.locality ? { locality: w.locality } : {}),
    ...(w.networkMode === "HOST_NETWORK" ? { networkMode: workload.NetworkMode.HOST_NETWORK } : {}),
  });
}

export function toService(s: MeshService): workload.Service {
  return create(workload.ServiceSchema, {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    addresses: s.addresses.map((a) => ({ network: a.network, address: ipToBytes(a.address) })),
    ports: s.ports.map((p) => ({ servicePort: p.servicePort, targetPort: p.targetPort })),
    ...(s.waypoint ? { waypoint: gatewayAddress(s.waypoint) } : {}),
    ipFamilies: IP_FAMILIES[s.ipFamilies],
  });
}

// ---- istio.security ----------------------------------------------------------------------------

function l4StringMatch(m: MeshStringMatch): MessageInitShape<typeof security.StringMatchSchema> {
  if ("exact" in m) return { matchType: { case: "exact", value: m.exact } };
  if ("prefix" in m) return { matchType: { case: "prefix", value: m.prefix } };
  if ("suffix" in m) return { matchType: { case: "suffix", value: m.suffix } };
  return { matchType: { case: "presence", value: {} } };
}

function l4Address(c: MeshCidr): MessageInitShape<typeof security.AddressSchema> {
  return { address: ipToBytes(c.address), length: c.length };
}

function l4Match(m: MeshMatch): MessageInitShape<typeof security.MatchSchema> {
  return {
    namespaces: (m.namespaces ?? []).map(l4StringMatch),
    notNamespaces: (m.notNamespaces ?? []).map(l4StringMatch),
    serviceAccounts: m.serviceAccounts ?? [],
    notServiceAccounts: m.notServiceAccounts ?? [],
    principals: (m.principals ?? []).map(l4StringMatch),
    notPrincipals: (m.notPrincipals ?? []).map(l4StringMatch),
    sourceIps: (m.sourceIps ?? []).map(l4Address),
    notSourceIps: (m.notSourceIps ?? []).map(l4Address),
    destinationIps: (m.destinationIps ?? []).map(l4Address),
    notDestinationIps: (m.notDestinationIps ?? []).map(l4Address),
    destinationPorts: m.destinationPorts ?? [],
    notDestinationPorts: m.notDestinationPorts ?? [],
  };
}

const SCOPE = {
  GLOBAL: security.Scope.GLOBAL,
  NAMESPACE: security.Scope.NAMESPACE,
  WORKLOAD_SELECTOR: security.Scope.WORKLOAD_SELECTOR,
} as const;

export function toAuthorization(a: MeshAuthorization): security.Authorization {
  return create(security.AuthorizationSchema, {
    name: a.name,
    namespace: a.namespace,
    scope: SCOPE[a.scope],
    action: a.action === "ALLOW" ? security.Action.ALLOW : security.Action.DENY,
    groups: a.groups.map((g) => ({ rules: g.rules.map((r) => ({ matches: r.matches.map(l4Match) })) })),
    dryRun: a.dryRun ?? false,
  });
}

// ---- weft.v1alpha1 -------------------------------------------------------------------------------

function stringMatch(m: MeshStringMatch): MessageInitShape<typeof weft.StringMatchSchema> {
  const ignoreCase = m.ignoreCase ?? false;
  if ("exact" in m) return { kind: { case: "exact", value: m.exact }, ignoreCase };
  if ("prefix" in m) return { kind: { case: "prefix", value: m.prefix }, ignoreCase };
  if ("suffix" in m) return { kind: { case: "suffix", value: m.suffix }, ignoreCase };
  return { kind: { case: "present", value: true }, ignoreCase };
}

function cidr(c: MeshCidr): MessageInitShape<typeof weft.CidrSchema> {
  return { address: ipToBytes(c.address), prefixLength: c.length };
}

const REF_KIND = { SERVICE: weft.ObjectRef_Kind.SERVICE, GATEWAY: weft.ObjectRef_Kind.GATEWAY } as const;

function objectRef(r: MeshObjectRef): MessageInitShape<typeof weft.ObjectRefSchema> {
  return { ...r, kind: REF_KIND[r.kind] };
}

const L7_ACTION = {
  ALLOW: weft.L7Authorization_Action.ALLOW,
  DENY: weft.L7Authorization_Action.DENY,
  AUDIT: weft.L7Authorization_Action.AUDIT,
} as const;

export function toL7Authorization(a: MeshL7Authorization): weft.L7Authorization {
  return create(weft.L7AuthorizationSchema, {
    name: a.name,
    namespace: a.namespace,
    targets: a.targets.map(objectRef),
    action: L7_ACTION[a.action],
    rules: a.rules.map((r) => ({
      sources: r.sources.map((s) => ({
        principals: (s.principals ?? []).map(stringMatch),
        notPrincipals: (s.notPrincipals ?? []).map(stringMatch),
        namespaces: (s.namespaces ?? []).map(stringMatch),
        notNamespaces: (s.notNamespaces ?? []).map(stringMatch),
        ipBlocks: (s.ipBlocks ?? []).map(cidr),
        notIpBlocks: (s.notIpBlocks ?? []).map(cidr),
      })),
      operations: r.operations.map((o) => ({
        hosts: (o.hosts ?? []).map(stringMatch),
        notHosts: (o.notHosts ?? []).map(stringMatch),
        ports: o.ports ?? [],
        notPorts: o.notPorts ?? [],
        methods: o.methods ?? [],
        notMethods: o.notMethods ?? [],
        paths: (o.paths ?? []).map(stringMatch),
        notPaths: (o.notPaths ?? []).map(stringMatch),
      })),
      headers: r.headers.map((h) => ({
        name: h.name,
        values: h.values.map(stringMatch),
        notValues: h.notValues.map(stringMatch),
      })),
    })),
  });
}

function backend(b: MeshBackendRef): MessageInitShape<typeof weft.BackendRefSchema> {
  return { ...(b.service ? { service: objectRef(b.service) } : {}), weight: b.weight };
}

function valueMatch(m: MeshValueMatch): { name: string; value: { case: "exact" | "regex"; value: string } } {
  return "exact" in m
    ? { name: m.name, value: { case: "exact", value: m.exact } }
    : { name: m.name, value: { case: "regex", value: m.regex } };
}

function pathModifier(p: MeshPathModifier): MessageInitShape<typeof weft.PathModifierSchema> {
  return "replaceFullPath" in p
    ? { kind: { case: "replaceFullPath", value: p.replaceFullPath } }
    : { kind: { case: "replacePrefixMatch", value: p.replacePrefixMatch } };
}

function headerModifier(m: MeshHeaderModifier): MessageInitShape<typeof weft.HeaderModifierSchema> {
  return { set: m.set.map((h) => ({ ...h })), add: m.add.map((h) => ({ ...h })), remove: [...m.remove] };
}

function httpFilter(f: MeshHttpFilter): MessageInitShape<typeof weft.HttpFilterSchema> {
  if ("requestHeaderModifier" in f) {
    return { kind: { case: "requestHeaderModifier", value: headerModifier(f.requestHeaderModifier) } };
  }
  if ("responseHeaderModifier" in f) {
    return { kind: { case: "responseHeaderModifier", value: headerModifier(f.responseHeaderModifier) } };
  }
  if ("requestRedirect" in f) {
    const r = f.requestRedirect;
    return {
      kind: {
        case: "requestRedirect",
        value: {
          scheme: r.scheme,
          hostname: r.hostname,
          port: r.port,
          statusCode: r.statusCode,
          ...(r.path ? { path: pathModifier(r.path) } : {}),
        },
      },
    };
  }
  if ("urlRewrite" in f) {
    const r = f.urlRewrite;
    return {
      kind: {
        case: "urlRewrite",
        value: { hostname: r.hostname, ...(r.path ? { path: pathModifier(r.path) } : {}) },
      },
    };
  }
  const m = f.requestMirror;
  return {
    kind: {
      case: "requestMirror",
      value: { backend: backend(m.backend), ...(m.fraction ? { fraction: m.fraction } : {}) },
    },
  };
}

function timeouts(t: MeshTimeouts | undefined): MessageInitShape<typeof weft.TimeoutsSchema> | undefined {
  if (!t) return undefined;
  return { request: durationMs(t.requestMs), backendRequest: durationMs(t.backendRequestMs) };
}

function creation(ts: string): { creationTimestamp?: ReturnType<typeof timestampFromDate> } {
  const d = ts === "" ? undefined : new Date(ts);
  return d && !Number.isNaN(d.getTime()) ? { creationTimestamp: timestampFromDate(d) } : {};
}

export function toHttpRoute(r: MeshHttpRoute): weft.HttpRoute {
  return create(weft.HttpRouteSchema, {
    name: r.name,
    namespace: r.namespace,
    parentRefs: r.parentRefs.map(objectRef),
    hostnames: [...r.hostnames],
    ...creation(r.creationTimestamp),
    rules: r.rules.map((rule) => {
      const t = timeouts(rule.timeouts);
      return {
        name: rule.name,
        matches: rule.matches.map((m) => ({
          ...(m.path
            ? {
                path: {
                  kind:
                    "exact" in m.path
                      ? { case: "exact" as const, value: m.path.exact }
                      : "prefix" in m.path
                        ? { case: "prefix" as const, value: m.path.prefix }
                        : { case: "regex" as const, value: m.path.regex },
                },
              }
            : {}),
          headers: m.headers.map(valueMatch),
          queryParams: m.queryParams.map(valueMatch),
          method: m.method,
        })),
        filters: rule.filters.map(httpFilter),
        backends: rule.backends.map(backend),
        ...(t ? { timeouts: t } : {}),
      };
    }),
  });
}

export function toGrpcRoute(r: MeshGrpcRoute): weft.GrpcRoute {
  return create(weft.GrpcRouteSchema, {
    name: r.name,
    namespace: r.namespace,
    parentRefs: r.parentRefs.map(objectRef),
    hostnames: [...r.hostnames],
    ...creation(r.creationTimestamp),
    rules: r.rules.map((rule) => ({
      name: rule.name,
      matches: rule.matches.map((m) => ({
        ...(m.method
          ? {
              method: {
                type:
                  m.method.type === "EXACT"
                    ? weft.GrpcMethodMatch_Type.EXACT
                    : weft.GrpcMethodMatch_Type.REGULAR_EXPRESSION,
                service: m.method.service,
                method: m.method.method,
              },
            }
          : {}),
        headers: m.headers.map(valueMatch),
      })),
      // GrpcRoute filters are the HTTP ones minus redirect/rewrite, filtered during translation.
      filters: rule.filters.map(httpFilter) as MessageInitShape<typeof weft.GrpcFilterSchema>[],
      backends: rule.backends.map(backend),
    })),
  });
}

const ALGORITHM = {
  ROUND_ROBIN: weft.LoadBalancer_Algorithm.ROUND_ROBIN,
  LEAST_REQUEST: weft.LoadBalancer_Algorithm.LEAST_REQUEST,
  RING_HASH: weft.LoadBalancer_Algorithm.RING_HASH,
} as const;

export function toTrafficPolicy(p: MeshTrafficPolicy): weft.TrafficPolicy {
  const od = p.outlierDetection;
  const lb = p.loadBalancer;
  const fi = p.faultInjection;
  const hk = lb?.hashKey;
  return create(weft.TrafficPolicySchema, {
    name: p.name,
    namespace: p.namespace,
    target: objectRef(p.target),
    ...(p.connectionLimits ? { connectionLimits: p.connectionLimits } : {}),
    ...(od
      ? {
          outlierDetection: {
            consecutive5xx: od.consecutive5xx ?? 0,
            interval: durationMs(od.intervalMs),
            baseEjectionTime: durationMs(od.baseEjectionTimeMs),
            maxEjectionPercent: od.maxEjectionPercent ?? 0,
            disabled: od.disabled ?? false,
          },
        }
      : {}),
    ...(p.retryBudget ? { retryBudget: p.retryBudget } : {}),
    ...(p.localRateLimit
      ? {
          localRateLimit: {
            maxTokens: p.localRateLimit.maxTokens,
            tokensPerFill: p.localRateLimit.tokensPerFill,
            fillInterval: durationMs(p.localRateLimit.fillIntervalMs),
          },
        }
      : {}),
    ...(fi
      ? {
          faultInjection: {
            ...(fi.delay
              ? { delay: { percent: fi.delay.percent, fixedDelay: durationMs(fi.delay.fixedDelayMs) } }
              : {}),
            ...(fi.abort
              ? {
                  abort: {
                    percent: fi.abort.percent,
                    error:
                      fi.abort.httpStatus !== undefined
                        ? { case: "httpStatus" as const, value: fi.abort.httpStatus }
                        : { case: "grpcStatus" as const, value: fi.abort.grpcStatus ?? 14 },
                  },
                }
              : {}),
          },
        }
      : {}),
    ...(lb
      ? {
          loadBalancer: {
            algorithm: ALGORITHM[lb.algorithm],
            ringSize: lb.ringSize ?? 0,
            ...(hk
              ? {
                  hashKey: {
                    source:
                      "header" in hk
                        ? { case: "header" as const, value: hk.header }
                        : "cookie" in hk
                          ? { case: "cookie" as const, value: hk.cookie }
                          : "queryParam" in hk
                            ? { case: "queryParam" as const, value: hk.queryParam }
                            : { case: "sourceIp" as const, value: true },
                  },
                }
              : {}),
          },
        }
      : {}),
    ...(p.responseCaching
      ? {
          responseCaching: {
            enabled: true,
            maxTtl: durationMs(p.responseCaching.maxTtlMs),
            maxBodyBytes: p.responseCaching.maxBodyBytes ?? 0,
            maxTotalBytes: BigInt(p.responseCaching.maxTotalBytes ?? 0),
          },
        }
      : {}),
  });
}

// ---- packed resources ------------------------------------------------------------------------------

/** One xDS resource ready for the cache: the name clients key it by, and the packed message. */
export interface XdsResource {
  readonly name: string;
  readonly resource: Any;
  /** Send order within a push: workloads (0) before the services that reference them (1). */
  readonly rank: number;
  /**
   * For weft.v1alpha1 types: the waypoints (Gateway `namespace/name`) that need this resource, so
   * the server can send each waypoint only its own. Absent for types every subscriber gets.
   */
  readonly waypoints?: readonly string[];
}

/** Every resource of a translation by type URL (`TYPE_URL.*` of @weft/api), in a stable order. */
/** A workload as its Address resource (named by uid, sent before services). */
export function workloadResource(w: MeshWorkload): XdsResource {
  const schema = workload.AddressSchema;
  return {
    name: w.uid,
    rank: 0,
    resource: packAny(schema, create(schema, { type: { case: "workload", value: toWorkload(w) } })),
  };
}

/** A service as its Address resource (named `namespace/hostname`, sent after workloads). */
export function serviceResource(s: MeshService): XdsResource {
  const schema = workload.AddressSchema;
  return {
    name: `${s.namespace}/${s.hostname}`,
    rank: 1,
    resource: packAny(schema, create(schema, { type: { case: "service", value: toService(s) } })),
  };
}

export function toXdsResources(t: MeshTranslation): Map<string, XdsResource[]> {
  const addresses: XdsResource[] = [...t.workloads.map(workloadResource), ...t.services.map(serviceResource)];
  const named = <T extends { namespace: string; name: string; waypoints?: readonly string[] }>(
    list: readonly T[],
    pack: (x: T) => Any,
  ): XdsResource[] =>
    list.map((x) => ({
      name: `${x.namespace}/${x.name}`,
      rank: 0,
      resource: pack(x),
      ...(x.waypoints ? { waypoints: x.waypoints } : {}),
    }));
  return new Map<string, XdsResource[]>([
    [TYPE_URL.Address, addresses],
    [
      TYPE_URL.Authorization,
      named(t.authorizations, (a) => packAny(security.AuthorizationSchema, toAuthorization(a))),
    ],
    [
      TYPE_URL.L7Authorization,
      named(t.l7Authorizations, (a) => packAny(weft.L7AuthorizationSchema, toL7Authorization(a))),
    ],
    [TYPE_URL.HttpRoute, named(t.httpRoutes, (r) => packAny(weft.HttpRouteSchema, toHttpRoute(r)))],
    [TYPE_URL.GrpcRoute, named(t.grpcRoutes, (r) => packAny(weft.GrpcRouteSchema, toGrpcRoute(r)))],
    [
      TYPE_URL.TrafficPolicy,
      named(t.trafficPolicies, (p) => packAny(weft.TrafficPolicySchema, toTrafficPolicy(p))),
    ],
  ]);
}
