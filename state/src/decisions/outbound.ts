// The outbound routing decision (istio/ztunnel `build_request`): given who is connecting where, say
// how ztunnel must carry the connection. Pure function of (snapshot, facts).
import { workloadPrincipal } from "../identity.js";
import { canonicalIp, formatSocketAddress, ipFamily } from "../ip.js";
import type { Snapshot } from "../store.js";
import type { GatewayAddress, Service, Workload } from "../types.js";
import { serviceKey } from "../validate.js";
import { selectEndpoint } from "./endpoints.js";

/** The HBONE port of ztunnel and waypoints. */
export const HBONE_PORT = 15008;

export interface OutboundFacts {
  /** The connecting workload: by uid when the listener knows its pod, else by the connection's source IP. */
  readonly source: { readonly uid: string } | { readonly ip: string };
  /** The network the source is on (addresses are looked up in it). */
  readonly network: string;
  /** The original destination the application dialled. */
  readonly destination: { readonly ip: string; readonly port: number };
  /** Uniform in [0, 1) for endpoint choice; inject for determinism (e.g. a hash of the 4-tuple). */
  readonly random: () => number;
  /** Port to tunnel to on destination pods; defaults to HBONE_PORT. */
  readonly hbonePort?: number;
}

export type OutboundDenyReason =
  "UNKNOWN_SOURCE" | "INVALID_DESTINATION" | "NO_HEALTHY_UPSTREAM" | "NO_PORT_MAPPING" | "UNKNOWN_WAYPOINT";

export type OutboundDecision =
  | {
      readonly kind: "hbone";
      /** `ip:port` to open (or reuse) the HBONE connection to. */
      readonly nextHop: string;
      readonly nextHopAddress: string;
      readonly nextHopPort: number;
      /** The CONNECT `:authority`: the pod (or, through a waypoint, the dialled) `ip:port`. */
      readonly authority: string;
      /** SPIFFE URIs the peer's certificate may carry (any one suffices). */
      readonly expectedIdentities: readonly string[];
      readonly viaWaypoint: boolean;
      readonly source: Workload;
      /** The workload the traffic is for; unknown when a service waypoint will choose it. */
      readonly destinationWorkload?: Workload;
      readonly destinationService?: Service;
      /** The waypoint tunnelled to, when viaWaypoint. */
      readonly waypoint?: Workload;
    }
  | {
      /** Plain TCP to a mesh workload that does not terminate HBONE (tunnelProtocol NONE). */
      readonly kind: "direct";
      readonly address: string;
      readonly source: Workload;
      readonly destinationWorkload: Workload;
      readonly destinationService?: Service;
    }
  | {
      /** Not a mesh destination: connect to the original destination as is. */
      readonly kind: "passthrough";
      readonly address: string;
      readonly source: Workload;
    }
  | { readonly kind: "deny"; readonly reason: OutboundDenyReason; readonly detail: string };

type Deny = Extract<OutboundDecision, { kind: "deny" }>;

function deny(reason: OutboundDenyReason, detail: string): Deny {
  return { kind: "deny", reason, detail };
}

function findSource(snapshot: Snapshot, facts: OutboundFacts): Workload | Deny {
  if ("uid" in facts.source) {
    return (
      snapshot.workload(facts.source.uid) ??
      deny("UNKNOWN_SOURCE", `no workload with uid ${facts.source.uid}`)
    );
  }
  const ip = canonicalIp(facts.source.ip);
  const w = ip === undefined ? undefined : snapshot.workloadByAddress(facts.network, ip);
  return w ?? deny("UNKNOWN_SOURCE", `no workload with address ${facts.network}/${facts.source.ip}`);
}

/** Whether `source` is (a replica of) the waypoint `gw` points at: its own traffic must not loop back to it. */
export function isWaypoint(snapshot: Snapshot, gw: GatewayAddress, source: Workload): boolean {
  const d = gw.destination;
  if (d.kind === "hostname") return serviceKey(d.namespace, d.hostname) in source.services;
  const svc = snapshot.serviceByVip(d.network, d.address);
  if (svc !== undefined) return serviceKey(svc.namespace, svc.hostname) in source.services;
  return snapshot.workloadByAddress(d.network, d.address)?.uid === source.uid;
}

interface ResolvedWaypoint {
  readonly workload: Workload;
  readonly address: string;
  readonly port: number;
  readonly identities: readonly string[];
}

/** Pick the waypoint replica to tunnel to (ztunnel `fetch_waypoint`). */
export function resolveWaypoint(
  snapshot: Snapshot,
  gw: GatewayAddress,
  source: Workload,
  family: 4 | 6,
  random: () => number,
): ResolvedWaypoint | Deny {
  const d = gw.destination;
  const svc =
    d.kind === "hostname"
      ? snapshot.serviceByHostname(d.namespace, d.hostname)
      : snapshot.serviceByVip(d.network, d.address);
  if (svc !== undefined) {
    const sel = selectEndpoint({
      service: svc,
      endpoints: snapshot.endpoints(serviceKey(svc.namespace, svc.hostname)),
      source,
      family,
      random,
    });
    if (!sel.ok) return deny(sel.reason, `waypoint ${svc.namespace}/${svc.hostname}: ${sel.detail}`);
    const w = sel.endpoint.workload;
    return {
      workload: w,
      address: sel.address,
      port: gw.hboneMtlsPort,
      identities: [workloadPrincipal(w), ...svc.subjectAltNames],
    };
  }
  if (d.kind === "address") {
    const w = snapshot.workloadByAddress(d.network, d.address);
    if (w !== undefined)
      return { workload: w, address: d.address, port: gw.hboneMtlsPort, identities: [workloadPrincipal(w)] };
  }
  const where = d.kind === "hostname" ? `${d.namespace}/${d.hostname}` : `${d.network}/${d.address}`;
  return deny("UNKNOWN_WAYPOINT", `waypoint ${where} is neither a known service nor a known workload`);
}

function viaWaypoint(
  wp: ResolvedWaypoint,
  authority: string,
  source: Workload,
  destinationWorkload: Workload | undefined,
  destinationService: Service | undefined,
): OutboundDecision {
  return {
    kind: "hbone",
    nextHop: formatSocketAddress(wp.address, wp.port),
    nextHopAddress: wp.address,
    nextHopPort: wp.port,
    authority,
    expectedIdentities: wp.identities,
    viaWaypoint: true,
    source,
    ...(destinationWorkload === undefined ? {} : { destinationWorkload }),
    ...(destinationService === undefined ? {} : { destinationService }),
    waypoint: wp.workload,
  };
}

export function buildRequest(snapshot: Snapshot, facts: OutboundFacts): OutboundDecision {
  const source = findSource(snapshot, facts);
  if ("kind" in source) return source;
  const ip = canonicalIp(facts.destination.ip);
  const port = facts.destination.port;
  if (ip === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    return deny("INVALID_DESTINATION", `not an IP address and port: ${facts.destination.ip}:${port}`);
  }
  const dialled = formatSocketAddress(ip, port);
  const family = ipFamily(ip);
  const hbonePort = facts.hbonePort ?? HBONE_PORT;

  let target: Workload;
  let targetIp: string;
  let targetPort: number;
  const service = snapshot.serviceByVip(facts.network, ip);
  if (service !== undefined) {
    if (service.waypoint !== undefined && !isWaypoint(snapshot, service.waypoint, source)) {
      const wp = resolveWaypoint(snapshot, service.waypoint, source, family, facts.random);
      if ("kind" in wp) return wp;
      return viaWaypoint(wp, dialled, source, undefined, service);
    }
    const sel = selectEndpoint({
      service,
      endpoints: snapshot.endpoints(serviceKey(service.namespace, service.hostname)),
      source,
      servicePort: port,
      family,
      random: facts.random,
    });
    if (!sel.ok) return deny(sel.reason, sel.detail);
    target = sel.endpoint.workload;
    targetIp = sel.address;
    targetPort = sel.targetPort;
  } else {
    const w = snapshot.workloadByAddress(facts.network, ip);
    if (w === undefined) return { kind: "passthrough", address: dialled, source };
    target = w;
    targetIp = ip;
    targetPort = port;
  }

  // A workload's own waypoint sees all traffic to it, except the traffic it sends itself.
  if (target.waypoint !== undefined && !isWaypoint(snapshot, target.waypoint, source)) {
    const wp = resolveWaypoint(snapshot, target.waypoint, source, family, facts.random);
    if ("kind" in wp) return wp;
    return viaWaypoint(wp, dialled, source, target, service);
  }

  const address = formatSocketAddress(targetIp, targetPort);
  if (target.tunnelProtocol === "NONE") {
    return {
      kind: "direct",
      address,
      source,
      destinationWorkload: target,
      ...(service === undefined ? {} : { destinationService: service }),
    };
  }
  return {
    kind: "hbone",
    nextHop: formatSocketAddress(targetIp, hbonePort),
    nextHopAddress: targetIp,
    nextHopPort: hbonePort,
    authority: address,
    expectedIdentities:
      service === undefined
        ? [workloadPrincipal(target)]
        : [workloadPrincipal(target), ...service.subjectAltNames],
    viaWaypoint: false,
    source,
    destinationWorkload: target,
    ...(service === undefined ? {} : { destinationService: service }),
  };
}
