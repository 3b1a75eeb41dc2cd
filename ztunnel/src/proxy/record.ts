// One tunnelled (or refused) connection as metrics and the access log see it: plain data, filled
// in as the connection progresses and handed to the observer once when it opens and once when it
// closes. Field meanings follow Istio's standard TCP metrics so dashboards and Kiali read them.
import type { Service, Workload } from "@weft/state";

/**
 * Envoy-style response flags (a closed set, never renumbered or renamed: dashboards filter on them).
 *   "-"     no problem
 *   "UF"    upstream connection failure (connect refused, HBONE 503, TLS failed)
 *   "UH"    no healthy upstream
 *   "NR"    no route: the destination cannot be resolved (unknown source workload, bad address)
 *   "DENY"  refused by authorization (L4 policy, PeerAuthentication STRICT, HBONE 401)
 *   "DC"    downstream (the client) reset or closed the connection mid-flight
 *   "UC"    upstream reset the connection mid-flight
 *   "BAD"   malformed request (HBONE 400/405)
 */
export type ResponseFlag = "-" | "UF" | "UH" | "NR" | "DENY" | "DC" | "UC" | "BAD";

export type Direction = "outbound" | "inbound";
export type SecurityPolicy = "mutual_tls" | "none" | "unknown";

export interface ConnectionRecord {
  readonly direction: Direction;
  /** Istio's reporter label: "source" for outbound, "destination" for inbound. */
  readonly reporter: "source" | "destination";
  readonly startedAt: number;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  source?: Workload;
  sourcePrincipal?: string;
  destinationWorkload?: Workload;
  destinationService?: Service;
  destinationPrincipal?: string;
  security: SecurityPolicy;
  /** Where the bytes went: `hbone <nextHop>`, `passthrough`, `direct`, `app` (inbound). */
  via?: string;
  /** Client → server bytes (Istio: received during the request). */
  bytesFromClient: number;
  /** Server → client bytes (Istio: sent during the response). */
  bytesFromServer: number;
  responseFlags: ResponseFlag;
  /** Why it was refused or failed, for the access log. */
  reason?: string;
  /** Set when the connection was opened (counted in connections_opened). */
  opened: boolean;
}

/** An inbound L4 authorization outcome (state's InboundReason), for the passed/denied counters. */
export interface AuthorizationEvent {
  readonly allow: boolean;
  /** DENY_MATCHED, NO_ALLOW_POLICIES, ALLOW_MATCHED or NO_ALLOW_MATCH. */
  readonly reason: string;
  /** The connection came in plaintext (:15006) rather than over HBONE. */
  readonly plaintext: boolean;
}

export interface ConnectionObserver {
  /** An inbound connection was authorized or refused by L4 policy. */
  onAuthorization?(event: AuthorizationEvent): void;
  /** The connection was set up and bytes may flow (after authorization and upstream connect). */
  onOpen(record: ConnectionRecord): void;
  /** The connection ended (closed, reset, or refused before it opened). Called exactly once. */
  onClose(record: ConnectionRecord): void;
}

export function newRecord(
  direction: Direction,
  sourceIp: string,
  destinationIp: string,
  destinationPort: number,
): ConnectionRecord {
  return {
    direction,
    reporter: direction === "outbound" ? "source" : "destination",
    startedAt: Date.now(),
    sourceIp,
    destinationIp,
    destinationPort,
    security: "unknown",
    bytesFromClient: 0,
    bytesFromServer: 0,
    responseFlags: "-",
    opened: false,
  };
}
