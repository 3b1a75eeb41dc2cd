// Endpoint selection for a service (istio/ztunnel `load_balance`): filter to endpoints that can be
// reached and serve the port, rank by locality, pick uniformly among the best. Pure: randomness is
// injected so tests (and hashing callers) are deterministic.
import { ipFamily } from "../ip.js";
import type { Endpoint } from "../store.js";
import type { LoadBalancingScope, Service, Workload } from "../types.js";

export interface EndpointSelectionInput {
  readonly service: Service;
  /** Candidates, as `Snapshot.endpoints(key)` returns them (sorted, so a given random value is reproducible). */
  readonly endpoints: readonly Endpoint[];
  readonly source: Workload;
  /**
   * The port the client dialled on the service. Undefined selects without port checks (used for
   * waypoints, which are always reached on their HBONE port).
   */
  readonly servicePort?: number;
  /** Prefer endpoint addresses of this family (that of the address the client dialled). */
  readonly family?: 4 | 6;
  /** Uniform in [0, 1), like Math.random. */
  readonly random: () => number;
}

export type EndpointSelection =
  | {
      readonly ok: true;
      readonly endpoint: Endpoint;
      /** The address to dial on the chosen workload. */
      readonly address: string;
      /** The port the workload serves the service port on (0 when no service port was given). */
      readonly targetPort: number;
      /** How many routing preferences it matched in order (0 without a locality-aware load balancer). */
      readonly rank: number;
    }
  | {
      readonly ok: false;
      readonly reason: "NO_PORT_MAPPING" | "NO_HEALTHY_UPSTREAM";
      readonly detail: string;
    };

/**
 * How many of `preferences`, in order, the target shares with the source; counting stops at the
 * first mismatch, so [REGION, ZONE, NODE] ranks same node (3) > same zone (2) > same region (1).
 */
export function localityRank(
  source: Workload,
  target: Workload,
  preferences: readonly LoadBalancingScope[],
): number {
  let rank = 0;
  for (const scope of preferences) {
    if (!sameScope(source, target, scope)) break;
    rank++;
  }
  return rank;
}

function sameScope(a: Workload, b: Workload, scope: LoadBalancingScope): boolean {
  switch (scope) {
    case "NETWORK":
      return a.network === b.network;
    case "REGION":
      return a.locality.region === b.locality.region;
    case "ZONE":
      return a.locality.zone === b.locality.zone;
    case "SUBZONE":
      return a.locality.subzone === b.locality.subzone;
    case "NODE":
      return a.node === b.node;
    case "CLUSTER":
      return a.clusterId === b.clusterId;
  }
}

/**
 * The target port for `servicePort` on an endpoint, as ztunnel resolves it: the workload's own
 * mapping if non-zero, else the service's target port if non-zero, else none (a named target port
 * this workload does not define — the endpoint cannot serve it).
 */
export function targetPortFor(
  service: Service,
  endpointPorts: Endpoint["ports"],
  servicePort: number,
): number | undefined {
  const own = endpointPorts[servicePort];
  if (own !== undefined && own !== 0) return own;
  for (const p of service.ports) {
    if (p.servicePort === servicePort) return p.targetPort === 0 ? undefined : p.targetPort;
  }
  return undefined;
}

/** The workload's address to dial: the first of the preferred family, else its first address. */
export function pickAddress(workload: Workload, family: 4 | 6 | undefined): string | undefined {
  if (family !== undefined) {
    for (const a of workload.addresses) if (ipFamily(a) === family) return a;
  }
  return workload.addresses[0];
}

interface Candidate {
  readonly endpoint: Endpoint;
  readonly address: string;
  readonly targetPort: number;
  readonly rank: number;
}

export function selectEndpoint(input: EndpointSelectionInput): EndpointSelection {
  const { service, source, servicePort } = input;
  if (servicePort !== undefined && !service.ports.some((p) => p.servicePort === servicePort)) {
    return {
      ok: false,
      reason: "NO_PORT_MAPPING",
      detail: `service ${service.hostname} has no port ${servicePort}`,
    };
  }
  const lb = service.loadBalancing;
  const allowUnhealthy = lb?.healthPolicy === "ALLOW_ALL";
  const localityAware = lb !== undefined && lb.mode !== "UNSPECIFIED";
  const preferences = localityAware ? lb.routingPreference : [];
  let portless = 0;
  let usable = 0;
  let best = -1;
  let candidates: Candidate[] = [];
  for (const endpoint of input.endpoints) {
    const w = endpoint.workload;
    // Without network gateways (not supported yet) another network's pod IPs are not reachable.
    if (w.network !== source.network) continue;
    if (!allowUnhealthy && w.status !== "Healthy") continue;
    const address = pickAddress(w, input.family);
    if (address === undefined) continue;
    const targetPort = servicePort === undefined ? 0 : targetPortFor(service, endpoint.ports, servicePort);
    if (targetPort === undefined) {
      portless++;
      continue;
    }
    usable++;
    const rank = localityAware ? localityRank(source, w, preferences) : 0;
    if (lb?.mode === "STRICT" && rank !== preferences.length) continue;
    if (rank < best) continue;
    if (rank > best) {
      best = rank;
      candidates = [];
    }
    candidates.push({ endpoint, address, targetPort: servicePort === undefined ? 0 : targetPort, rank });
  }
  if (candidates.length === 0) {
    if (usable > 0) {
      return {
        ok: false,
        reason: "NO_HEALTHY_UPSTREAM",
        detail: `service ${service.hostname}: ${usable} endpoint(s) but none match its STRICT routing preference ${preferences.join(">")}`,
      };
    }
    if (portless > 0) {
      return {
        ok: false,
        reason: "NO_PORT_MAPPING",
        detail: `service ${service.hostname}: no endpoint defines a target port for port ${servicePort ?? 0}`,
      };
    }
    return {
      ok: false,
      reason: "NO_HEALTHY_UPSTREAM",
      detail: `service ${service.hostname} has no healthy endpoints`,
    };
  }
  const index = Math.min(candidates.length - 1, Math.max(0, Math.floor(input.random() * candidates.length)));
  const chosen = candidates[index] as Candidate;
  return {
    ok: true,
    endpoint: chosen.endpoint,
    address: chosen.address,
    targetPort: servicePort === undefined ? 0 : chosen.targetPort,
    rank: chosen.rank,
  };
}
