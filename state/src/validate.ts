// Phase one of an apply: check each resource on its own and return a normalized copy (canonical
// IPs) or the reason it is unusable. Pure; never looks at other resources, so one bad resource
// can be NACKed while the rest of the push applies.
import { canonicalIp } from "./ip.js";
import { compileAuthorization, compileCidrs, type CompiledAuthorization } from "./rbac.js";
import type {
  Authorization,
  GatewayAddress,
  Match,
  PeerAuthentication,
  PortMap,
  Resource,
  ServiceAccountMatch,
  Service,
  StringMatch,
  Workload,
} from "./types.js";

export function serviceKey(namespace: string, hostname: string): string {
  return `${namespace}/${hostname}`;
}

export function policyKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** The xDS resource name of a resource: workload uid, `namespace/hostname`, or `namespace/name`. */
export function resourceKey(r: Resource): string {
  switch (r.kind) {
    case "workload":
      return r.workload.uid;
    case "service":
      return serviceKey(r.service.namespace, r.service.hostname);
    case "authorization":
      return policyKey(r.authorization.namespace, r.authorization.name);
    case "peerAuthentication":
      return policyKey(r.peerAuthentication.namespace, r.peerAuthentication.name);
  }
}

export type Validated =
  | { readonly kind: "workload"; readonly key: string; readonly workload: Workload }
  | { readonly kind: "service"; readonly key: string; readonly service: Service }
  | { readonly kind: "authorization"; readonly key: string; readonly authorization: CompiledAuthorization }
  | {
      readonly kind: "peerAuthentication";
      readonly key: string;
      readonly peerAuthentication: PeerAuthentication;
    };

/** Thrown inside validation only; turned into a per-resource error by `validateResource`. */
class Invalid extends Error {}

function fail(cause: string): never {
  throw new Invalid(cause);
}

function nonEmpty(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) fail(`${field} must be a non-empty string`);
  return value;
}

function str(value: unknown, field: string): string {
  if (typeof value !== "string") fail(`${field} must be a string`);
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    fail(`${field} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function port(value: unknown, field: string, allowZero = false): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535) {
    fail(`${field} must be an integer port ${allowZero ? "0" : "1"}..65535, got ${JSON.stringify(value)}`);
  }
  return value;
}

function ip(value: unknown, field: string): string {
  const canonical = typeof value === "string" ? canonicalIp(value) : undefined;
  if (canonical === undefined) fail(`${field} is not an IP address: ${JSON.stringify(value)}`);
  return canonical;
}

function array(value: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(value)) fail(`${field} must be an array`);
  return value as readonly unknown[];
}

function optionalArray(value: unknown, field: string): readonly unknown[] {
  return value === undefined ? [] : array(value, field);
}

function record(value: unknown, field: string): Readonly<Record<string, unknown>> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`${field} must be an object`);
  return value as Readonly<Record<string, unknown>>;
}

function namespacedKey(value: string, field: string): string {
  const slash = value.indexOf("/");
  if (slash <= 0 || slash === value.length - 1)
    fail(`${field} ${JSON.stringify(value)} must be "namespace/name"`);
  return value;
}

function portMap(value: unknown, field: string): PortMap {
  const out: Record<number, number> = {};
  for (const [k, v] of Object.entries(record(value, field))) {
    out[port(Number(k), `${field} key`)] = port(v, `${field}[${k}]`, true);
  }
  return out;
}

function gateway(value: unknown, field: string): GatewayAddress {
  const g = record(value, field);
  const d = record(g.destination, `${field}.destination`);
  const hboneMtlsPort = port(g.hboneMtlsPort, `${field}.hboneMtlsPort`);
  if (d.kind === "address") {
    return {
      destination: {
        kind: "address",
        network: str(d.network, `${field}.destination.network`),
        address: ip(d.address, `${field}.destination.address`),
      },
      hboneMtlsPort,
    };
  }
  if (d.kind === "hostname") {
    return {
      destination: {
        kind: "hostname",
        namespace: nonEmpty(d.namespace, `${field}.destination.namespace`),
        hostname: nonEmpty(d.hostname, `${field}.destination.hostname`),
      },
      hboneMtlsPort,
    };
  }
  return fail(`${field}.destination.kind must be "address" or "hostname"`);
}

function validateWorkload(w: Workload): Workload {
  nonEmpty(w.name, "name");
  nonEmpty(w.namespace, "namespace");
  str(w.network, "network");
  str(w.node, "node");
  nonEmpty(w.serviceAccount, "serviceAccount");
  nonEmpty(w.trustDomain, "trustDomain");
  oneOf(w.tunnelProtocol, ["NONE", "HBONE"], "tunnelProtocol");
  oneOf(w.status, ["Healthy", "Unhealthy"], "status");
  oneOf(w.workloadType, ["DEPLOYMENT", "CRONJOB", "POD", "JOB"], "workloadType");
  str(w.canonicalName, "canonicalName");
  str(w.workloadName, "workloadName");
  str(w.clusterId, "clusterId");
  if (w.canonicalRevision !== undefined) str(w.canonicalRevision, "canonicalRevision");
  const loc = record(w.locality, "locality");
  str(loc.region, "locality.region");
  str(loc.zone, "locality.zone");
  str(loc.subzone, "locality.subzone");
  const addresses = array(w.addresses, "addresses").map((a, i) => ip(a, `addresses[${i}]`));
  if (new Set(addresses).size !== addresses.length) fail("addresses contains duplicates");
  const services: Record<string, PortMap> = {};
  for (const [key, ports] of Object.entries(record(w.services, "services"))) {
    services[namespacedKey(key, "services key")] = portMap(ports, `services[${JSON.stringify(key)}]`);
  }
  array(w.authorizationPolicies, "authorizationPolicies").forEach((k, i) =>
    namespacedKey(str(k, `authorizationPolicies[${i}]`), `authorizationPolicies[${i}]`),
  );
  optionalArray(w.peerAuthentications, "peerAuthentications").forEach((k, i) =>
    namespacedKey(str(k, `peerAuthentications[${i}]`), `peerAuthentications[${i}]`),
  );
  const waypoint = w.waypoint === undefined ? undefined : gateway(w.waypoint, "waypoint");
  if (w.nativeTunnel !== undefined) {
    const t = record(w.nativeTunnel, "nativeTunnel");
    oneOf(t.protocol, ["NONE", "PROXY"], "nativeTunnel.protocol");
    if (t.port !== undefined) port(t.port, "nativeTunnel.port");
  }
  return { ...w, addresses, services, ...(waypoint === undefined ? {} : { waypoint }) };
}

function validateService(s: Service): Service {
  nonEmpty(s.name, "name");
  const vips = array(s.vips, "vips").map((v, i) => {
    const r = record(v, `vips[${i}]`);
    return { network: str(r.network, `vips[${i}].network`), address: ip(r.address, `vips[${i}].address`) };
  });
  const seen = new Set<number>();
  const ports = array(s.ports, "ports").map((p, i) => {
    const r = record(p, `ports[${i}]`);
    const servicePort = port(r.servicePort, `ports[${i}].servicePort`);
    if (seen.has(servicePort)) fail(`ports lists servicePort ${servicePort} twice`);
    seen.add(servicePort);
    return { servicePort, targetPort: port(r.targetPort, `ports[${i}].targetPort`, true) };
  });
  array(s.subjectAltNames, "subjectAltNames").forEach((v, i) => str(v, `subjectAltNames[${i}]`));
  const waypoint = s.waypoint === undefined ? undefined : gateway(s.waypoint, "waypoint");
  if (s.loadBalancing !== undefined) {
    const lb = record(s.loadBalancing, "loadBalancing");
    oneOf(lb.mode, ["STRICT", "FAILOVER", "UNSPECIFIED"], "loadBalancing.mode");
    array(lb.routingPreference, "loadBalancing.routingPreference").forEach((v, i) =>
      oneOf(
        v,
        ["NETWORK", "REGION", "ZONE", "SUBZONE", "NODE", "CLUSTER"],
        `loadBalancing.routingPreference[${i}]`,
      ),
    );
    if (lb.healthPolicy !== undefined) {
      oneOf(lb.healthPolicy, ["ONLY_HEALTHY", "ALLOW_ALL"], "loadBalancing.healthPolicy");
    }
  }
  return { ...s, vips, ports, ...(waypoint === undefined ? {} : { waypoint }) };
}

function stringMatches(value: unknown, field: string): void {
  optionalArray(value, field).forEach((v, i) => {
    const m = record(v, `${field}[${i}]`) as Partial<Record<keyof UnionKeys<StringMatch>, unknown>>;
    const kinds = (["exact", "prefix", "suffix", "presence"] as const).filter((k) => m[k] !== undefined);
    if (kinds.length !== 1) fail(`${field}[${i}] must have exactly one of exact, prefix, suffix, presence`);
    if (kinds[0] === "presence") {
      if (m.presence !== true) fail(`${field}[${i}].presence must be true`);
    } else {
      str(m[kinds[0] as "exact"], `${field}[${i}].${kinds[0]}`);
    }
  });
}

type UnionKeys<T> = { [K in T extends unknown ? keyof T : never]: unknown };

function serviceAccountMatches(value: unknown, field: string): void {
  optionalArray(value, field).forEach((v, i) => {
    const m = record(v, `${field}[${i}]`) as Partial<Record<keyof ServiceAccountMatch, unknown>>;
    nonEmpty(m.namespace, `${field}[${i}].namespace`);
    nonEmpty(m.serviceAccount, `${field}[${i}].serviceAccount`);
  });
}

function validateMatch(m: Match, field: string): void {
  record(m, field);
  stringMatches(m.namespaces, `${field}.namespaces`);
  stringMatches(m.notNamespaces, `${field}.notNamespaces`);
  stringMatches(m.principals, `${field}.principals`);
  stringMatches(m.notPrincipals, `${field}.notPrincipals`);
  serviceAccountMatches(m.serviceAccounts, `${field}.serviceAccounts`);
  serviceAccountMatches(m.notServiceAccounts, `${field}.notServiceAccounts`);
  for (const f of ["sourceIps", "notSourceIps", "destinationIps", "notDestinationIps"] as const) {
    const list = optionalArray(m[f], `${field}.${f}`).map((v, i) => str(v, `${field}.${f}[${i}]`));
    const r = compileCidrs(list);
    if (typeof r === "string") fail(`${field}.${f}: ${r}`);
  }
  for (const f of ["destinationPorts", "notDestinationPorts"] as const) {
    optionalArray(m[f], `${field}.${f}`).forEach((v, i) => port(v, `${field}.${f}[${i}]`));
  }
}

function validateAuthorization(a: Authorization): Authorization {
  nonEmpty(a.name, "name");
  nonEmpty(a.namespace, "namespace");
  oneOf(a.scope, ["GLOBAL", "NAMESPACE", "WORKLOAD_SELECTOR"], "scope");
  oneOf(a.action, ["ALLOW", "DENY", "AUDIT"], "action");
  if (typeof a.dryRun !== "boolean") fail("dryRun must be a boolean");
  array(a.rules, "rules").forEach((rule, r) => {
    array(record(rule, `rules[${r}]`).clauses, `rules[${r}].clauses`).forEach((clause, c) => {
      array(record(clause, `rules[${r}].clauses[${c}]`).matches, `rules[${r}].clauses[${c}].matches`).forEach(
        (m, i) => validateMatch(m as Match, `rules[${r}].clauses[${c}].matches[${i}]`),
      );
    });
  });
  return a;
}

const PA_MODES = ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"] as const;

function validatePeerAuthentication(p: PeerAuthentication): PeerAuthentication {
  nonEmpty(p.name, "name");
  nonEmpty(p.namespace, "namespace");
  oneOf(p.scope, ["MESH", "NAMESPACE", "WORKLOAD_SELECTOR"], "scope");
  oneOf(p.mode, PA_MODES, "mode");
  if (p.portLevelMtls !== undefined) {
    if (p.scope !== "WORKLOAD_SELECTOR") fail("portLevelMtls is only allowed on WORKLOAD_SELECTOR scope");
    for (const [k, v] of Object.entries(record(p.portLevelMtls, "portLevelMtls"))) {
      port(Number(k), "portLevelMtls key");
      oneOf(v, PA_MODES, `portLevelMtls[${k}]`);
    }
  }
  return p;
}

function keyOf(r: Resource): string {
  try {
    const k = resourceKey(r);
    return typeof k === "string" ? k : "<unnamed>";
  } catch {
    return "<unnamed>";
  }
}

/** Validate and normalize one resource. The error is a plain cause; the store wraps it. */
export function validateResource(
  r: Resource,
): Validated | { readonly kind: "invalid"; readonly key: string; readonly cause: string } {
  const key = keyOf(r);
  try {
    switch (r.kind) {
      case "workload":
        nonEmpty(record(r.workload, "workload").uid, "uid");
        return { kind: "workload", key, workload: validateWorkload(r.workload) };
      case "service":
        nonEmpty(record(r.service, "service").namespace, "namespace");
        nonEmpty(r.service.hostname, "hostname");
        return { kind: "service", key, service: validateService(r.service) };
      case "authorization": {
        const a = validateAuthorization(record(r.authorization, "authorization") as unknown as Authorization);
        return { kind: "authorization", key, authorization: compileAuthorization(key, a) };
      }
      case "peerAuthentication":
        return {
          kind: "peerAuthentication",
          key,
          peerAuthentication: validatePeerAuthentication(
            record(r.peerAuthentication, "peerAuthentication") as unknown as PeerAuthentication,
          ),
        };
      default:
        return {
          kind: "invalid",
          key,
          cause: `unknown resource kind ${JSON.stringify((r as { kind: unknown }).kind)}`,
        };
    }
  } catch (e) {
    if (e instanceof Invalid) return { kind: "invalid", key, cause: e.message };
    if (e instanceof TypeError) return { kind: "invalid", key, cause: `malformed resource: ${e.message}` };
    throw e;
  }
}
