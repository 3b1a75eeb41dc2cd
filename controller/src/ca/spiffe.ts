// SPIFFE identities in the Kubernetes form weft issues: spiffe://<trustDomain>/ns/<ns>/sa/<sa>.
// Hand-written because it is a dozen lines and the rules are ours (only this one path shape).

export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

// Trust domain: lowercase letters, digits, dots, dashes, underscores (SPIFFE ID spec §2.1).
// Namespace and service account: Kubernetes DNS-1123 names.
const SPIFFE_RE =
  /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/sa\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** Parses a weft SPIFFE ID, or returns undefined when it is not exactly that shape. */
export function parseSpiffeId(uri: string): WorkloadIdentity | undefined {
  const m = SPIFFE_RE.exec(uri);
  if (m === null) return undefined;
  const [, trustDomain, namespace, , serviceAccount] = m;
  if (trustDomain === undefined || namespace === undefined || serviceAccount === undefined) return undefined;
  if (namespace.length > 63 || serviceAccount.length > 253) return undefined;
  return { trustDomain, namespace, serviceAccount };
}

export function formatSpiffeId(id: WorkloadIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** "namespace/serviceaccount", the form operators write in config. */
export function serviceAccountKey(id: { namespace: string; serviceAccount: string }): string {
  return `${id.namespace}/${id.serviceAccount}`;
}
