// SPIFFE identities as Istio (and weft) issue them: spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>.
import type { Workload } from "./types.js";

export interface Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const SPIFFE_PREFIX = "spiffe://";
// Segments are DNS labels / Kubernetes names in practice; refuse anything that would make the URI
// ambiguous (slashes, empty segments) rather than guessing.
const SEGMENT = /^[^/\s]+$/;

/** Parse a SPIFFE URI into an Identity; undefined when it is not of the Istio form. */
export function parseIdentity(uri: string): Identity | undefined {
  if (!uri.startsWith(SPIFFE_PREFIX)) return undefined;
  const parts = uri.slice(SPIFFE_PREFIX.length).split("/");
  if (parts.length !== 5 || parts[1] !== "ns" || parts[3] !== "sa") return undefined;
  const [trustDomain, , namespace, , serviceAccount] = parts;
  if (trustDomain === undefined || namespace === undefined || serviceAccount === undefined) return undefined;
  if (!SEGMENT.test(trustDomain) || !SEGMENT.test(namespace) || !SEGMENT.test(serviceAccount))
    return undefined;
  return { trustDomain, namespace, serviceAccount };
}

export function formatIdentity(id: Identity): string {
  return `${SPIFFE_PREFIX}${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

export function workloadIdentity(
  w: Pick<Workload, "trustDomain" | "namespace" | "serviceAccount">,
): Identity {
  return { trustDomain: w.trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount };
}

/** The SPIFFE URI a workload's certificate carries. */
export function workloadPrincipal(w: Pick<Workload, "trustDomain" | "namespace" | "serviceAccount">): string {
  return formatIdentity(workloadIdentity(w));
}
