// istio.workload / istio.security protobuf messages → the store's plain types. Pure; throws
// ConversionError naming the field when a message cannot be represented (wrong IP length, enum
// value this build does not know), and the xDS client NACKs that one resource.
import { workload as wl, security as sec } from "@weft/api";
import { canonicalIp } from "../ip.js";
import type {
  Authorization,
  AuthorizationAction,
  AuthorizationScope,
  Clause,
  GatewayAddress,
  HealthPolicy,
  LoadBalancing,
  LoadBalancingMode,
  LoadBalancingScope,
  Match,
  NativeTunnel,
  PortMap,
  Resource,
  Rule,
  Service,
  ServiceAccountMatch,
  StringMatch,
  TunnelProtocol,
  Workload,
  WorkloadType,
} from "../types.js";

export class ConversionError extends Error {
  override readonly name = "ConversionError";
}

function fail(cause: string): never {
  throw new ConversionError(cause);
}

/** Istio's defaults for fields a control plane may leave empty. */
const DEFAULT_TRUST_DOMAIN = "cluster.local";
const DEFAULT_SERVICE_ACCOUNT = "default";

/** 4 bytes → dotted quad, 16 bytes → RFC 5952 text (IPv4-mapped becomes IPv4), else an error. */
export function ipFromBytes(bytes: Uint8Array, field: string): string {
  let text: string;
  if (bytes.length === 4) {
    text = `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  } else if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    text = groups.join(":");
  } else {
    fail(`${field} has ${bytes.length} bytes; an IP address has 4 (IPv4) or 16 (IPv6)`);
  }
  const canonical = canonicalIp(text);
  if (canonical === undefined) fail(`${field} is not an IP address`);
  return canonical;
}

function enumName<T extends string>(value: number, names: Readonly<Record<number, T>>, field: string): T {
  const name = names[value];
  if (name === undefined) fail(`${field} has enum value ${value}, which this data plane does not know`);
  return name;
}

const TUNNEL: Readonly<Record<number, TunnelProtocol>> = {
  [wl.TunnelProtocol.NONE]: "NONE",
  [wl.TunnelProtocol.HBONE]: "HBONE",
};
const WORKLOAD_TYPE: Readonly<Record<number, WorkloadType>> = {
  [wl.WorkloadType.DEPLOYMENT]: "DEPLOYMENT",
  [wl.WorkloadType.CRONJOB]: "CRONJOB",
  [wl.WorkloadType.POD]: "POD",
  [wl.WorkloadType.JOB]: "JOB",
};
const STATUS: Readonly<Record<number, Workload["status"]>> = {
  [wl.WorkloadStatus.HEALTHY]: "Healthy",
  [wl.WorkloadStatus.UNHEALTHY]: "Unhealthy",
};
const LB_MODE: Readonly<Record<number, LoadBalancingMode>> = {
  [wl.LoadBalancing_Mode.UNSPECIFIED_MODE]: "UNSPECIFIED",
  [wl.LoadBalancing_Mode.STRICT]: "STRICT",
  [wl.LoadBalancing_Mode.FAILOVER]: "FAILOVER",
};
const LB_SCOPE: Readonly<Record<number, LoadBalancingScope>> = {
  [wl.LoadBalancing_Scope.REGION]: "REGION",
  [wl.LoadBalancing_Scope.ZONE]: "ZONE",
  [wl.LoadBalancing_Scope.SUBZONE]: "SUBZONE",
  [wl.LoadBalancing_Scope.NODE]: "NODE",
  [wl.LoadBalancing_Scope.CLUSTER]: "CLUSTER",
  [wl.LoadBalancing_Scope.NETWORK]: "NETWORK",
};
const HEALTH_POLICY: Readonly<Record<number, HealthPolicy>> = {
  [wl.LoadBalancing_HealthPolicy.ONLY_HEALTHY]: "ONLY_HEALTHY",
  [wl.LoadBalancing_HealthPolicy.ALLOW_ALL]: "ALLOW_ALL",
};
const APP_TUNNEL: Readonly<Record<number, NativeTunnel["protocol"]>> = {
  [wl.ApplicationTunnel_Protocol.NONE]: "NONE",
  [wl.ApplicationTunnel_Protocol.PROXY]: "PROXY",
};
const SCOPE: Readonly<Record<number, AuthorizationScope>> = {
  [sec.Scope.GLOBAL]: "GLOBAL",
  [sec.Scope.NAMESPACE]: "NAMESPACE",
  [sec.Scope.WORKLOAD_SELECTOR]: "WORKLOAD_SELECTOR",
};
const ACTION: Readonly<Record<number, AuthorizationAction>> = {
  [sec.Action.ALLOW]: "ALLOW",
  [sec.Action.DENY]: "DENY",
};

function gatewayAddress(g: wl.GatewayAddress, field: string): GatewayAddress {
  const d = g.destination;
  switch (d.case) {
    case "address":
      return {
        destination: {
          kind: "address",
          network: d.value.network,
          address: ipFromBytes(d.value.address, `${field}.address.address`),
        },
        hboneMtlsPort: g.hboneMtlsPort,
      };
    case "hostname":
      return {
        destination: { kind: "hostname", namespace: d.value.namespace, hostname: d.value.hostname },
        hboneMtlsPort: g.hboneMtlsPort,
      };
    case undefined:
      return fail(`${field} has neither an address nor a hostname`);
  }
}

function portList(list: wl.PortList | undefined, field: string): PortMap {
  const out: Record<number, number> = {};
  for (const [i, p] of (list?.ports ?? []).entries()) {
    if (out[p.servicePort] !== undefined) fail(`${field}.ports[${i}] repeats service port ${p.servicePort}`);
    out[p.servicePort] = p.targetPort;
  }
  return out;
}

export function workloadFromProto(w: wl.Workload): Workload {
  const services: Record<string, PortMap> = {};
  for (const [key, list] of Object.entries(w.services)) {
    services[key] = portList(list, `services[${JSON.stringify(key)}]`);
  }
  const nativeTunnel: NativeTunnel | undefined =
    w.applicationTunnel !== undefined
      ? {
          protocol: enumName(w.applicationTunnel.protocol, APP_TUNNEL, "applicationTunnel.protocol"),
          ...(w.applicationTunnel.port !== 0 ? { port: w.applicationTunnel.port } : {}),
        }
      : undefined;
  return {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    addresses: w.addresses.map((a, i) => ipFromBytes(a, `addresses[${i}]`)),
    network: w.network,
    node: w.node,
    serviceAccount: w.serviceAccount === "" ? DEFAULT_SERVICE_ACCOUNT : w.serviceAccount,
    trustDomain: w.trustDomain === "" ? DEFAULT_TRUST_DOMAIN : w.trustDomain,
    tunnelProtocol: enumName(w.tunnelProtocol, TUNNEL, "tunnelProtocol"),
    ...(w.waypoint !== undefined ? { waypoint: gatewayAddress(w.waypoint, "waypoint") } : {}),
    locality: {
      region: w.locality?.region ?? "",
      zone: w.locality?.zone ?? "",
      subzone: w.locality?.subzone ?? "",
    },
    services,
    authorizationPolicies: [...w.authorizationPolicies],
    status: enumName(w.status, STATUS, "status"),
    canonicalName: w.canonicalName,
    ...(w.canonicalRevision !== "" ? { canonicalRevision: w.canonicalRevision } : {}),
    workloadName: w.workloadName,
    workloadType: enumName(w.workloadType, WORKLOAD_TYPE, "workloadType"),
    clusterId: w.clusterId,
    ...(nativeTunnel !== undefined ? { nativeTunnel } : {}),
  };
}

function loadBalancing(lb: wl.LoadBalancing): LoadBalancing {
  if (lb.mode === wl.LoadBalancing_Mode.PASSTHROUGH) {
    fail("loadBalancing.mode PASSTHROUGH is not supported by weft's data plane");
  }
  return {
    mode: enumName(lb.mode, LB_MODE, "loadBalancing.mode"),
    routingPreference: lb.routingPreference.map((s, i) =>
      enumName(s, LB_SCOPE, `loadBalancing.routingPreference[${i}]`),
    ),
    healthPolicy: enumName(lb.healthPolicy, HEALTH_POLICY, "loadBalancing.healthPolicy"),
  };
}

export function serviceFromProto(s: wl.Service): Service {
  return {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    vips: s.addresses.map((a, i) => ({
      network: a.network,
      address: ipFromBytes(a.address, `addresses[${i}].address`),
    })),
    ports: s.ports.map((p) => ({ servicePort: p.servicePort, targetPort: p.targetPort })),
    subjectAltNames: [...s.subjectAltNames],
    ...(s.waypoint !== undefined ? { waypoint: gatewayAddress(s.waypoint, "waypoint") } : {}),
    ...(s.loadBalancing !== undefined ? { loadBalancing: loadBalancing(s.loadBalancing) } : {}),
  };
}

/** istio.workload.Address → a workload or service resource. */
export function addressFromProto(a: wl.Address): Resource {
  switch (a.type.case) {
    case "workload":
      return { kind: "workload", workload: workloadFromProto(a.type.value) };
    case "service":
      return { kind: "service", service: serviceFromProto(a.type.value) };
    case undefined:
      return fail("Address carries neither a workload nor a service");
  }
}

function stringMatch(m: sec.StringMatch, field: string): StringMatch {
  switch (m.matchType.case) {
    case "exact":
      return { exact: m.matchType.value };
    case "prefix":
      return { prefix: m.matchType.value };
    case "suffix":
      return { suffix: m.matchType.value };
    case "presence":
      return { presence: true };
    case undefined:
      return fail(`${field} has no match type`);
  }
}

function cidr(a: sec.Address, field: string): string {
  const ip = ipFromBytes(a.address, `${field}.address`);
  const max = ip.includes(":") ? 128 : 32;
  if (a.length > max) fail(`${field}.length ${a.length} exceeds ${max} for ${ip}`);
  return `${ip}/${a.length}`;
}

function serviceAccounts(list: readonly sec.ServiceAccountMatch[]): ServiceAccountMatch[] {
  return list.map((m) => ({ namespace: m.namespace, serviceAccount: m.serviceAccount }));
}

function match(m: sec.Match, field: string): Match {
  const out: {
    -readonly [K in keyof Match]: Match[K];
  } = {};
  const strings = (list: readonly sec.StringMatch[], f: string): StringMatch[] =>
    list.map((s, i) => stringMatch(s, `${field}.${f}[${i}]`));
  const cidrs = (list: readonly sec.Address[], f: string): string[] =>
    list.map((a, i) => cidr(a, `${field}.${f}[${i}]`));
  if (m.namespaces.length > 0) out.namespaces = strings(m.namespaces, "namespaces");
  if (m.notNamespaces.length > 0) out.notNamespaces = strings(m.notNamespaces, "notNamespaces");
  if (m.principals.length > 0) out.principals = strings(m.principals, "principals");
  if (m.notPrincipals.length > 0) out.notPrincipals = strings(m.notPrincipals, "notPrincipals");
  if (m.serviceAccounts.length > 0) out.serviceAccounts = serviceAccounts(m.serviceAccounts);
  if (m.notServiceAccounts.length > 0) out.notServiceAccounts = serviceAccounts(m.notServiceAccounts);
  if (m.sourceIps.length > 0) out.sourceIps = cidrs(m.sourceIps, "sourceIps");
  if (m.notSourceIps.length > 0) out.notSourceIps = cidrs(m.notSourceIps, "notSourceIps");
  if (m.destinationIps.length > 0) out.destinationIps = cidrs(m.destinationIps, "destinationIps");
  if (m.notDestinationIps.length > 0) out.notDestinationIps = cidrs(m.notDestinationIps, "notDestinationIps");
  if (m.destinationPorts.length > 0) out.destinationPorts = [...m.destinationPorts];
  if (m.notDestinationPorts.length > 0) out.notDestinationPorts = [...m.notDestinationPorts];
  return out;
}

/**
 * istio.security.Authorization → the store's Authorization. Istio's nesting maps one to one:
 * groups (OR) → rules, a group's Rules (AND) → clauses, a Rules' matches (OR) → matches.
 */
export function authorizationFromProto(a: sec.Authorization): Authorization {
  const rules: Rule[] = a.groups.map((g, gi) => ({
    clauses: g.rules.map((r, ri): Clause => ({
      matches: r.matches.map((m, mi) => match(m, `groups[${gi}].rules[${ri}].matches[${mi}]`)),
    })),
  }));
  return {
    name: a.name,
    namespace: a.namespace,
    scope: enumName(a.scope, SCOPE, "scope"),
    action: enumName(a.action, ACTION, "action"),
    rules,
    dryRun: a.dryRun,
  };
}
