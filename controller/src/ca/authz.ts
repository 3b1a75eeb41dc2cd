// Who may get a certificate for which identity (DESIGN §5). A pure decision over plain data:
// the caller the authenticator vouched for, the identity asked for, the pods the controller
// knows, and the configured node agents. Every refusal carries a reason a person can act on.
import { formatSpiffeId, parseSpiffeId, serviceAccountKey } from "./spiffe.js";
import type { CaFailureReason } from "./errors.js";

/** An authenticated caller: the service account its token belongs to and, when the token is pod-bound, its pod and node. */
export interface Caller {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName?: string;
  readonly nodeName?: string;
}

/** The facts about a pod the decision needs. */
export interface PodFacts {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  /** spec.nodeName; undefined while unscheduled. */
  readonly nodeName?: string;
  /** status.phase; Succeeded and Failed pods are terminated and no longer need certificates. */
  readonly phase?: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
}

export interface AuthorizeInput {
  /** undefined when no caller could be authenticated. */
  readonly caller: Caller | undefined;
  /** The CA's trust domain: every identity issued lives in it. */
  readonly trustDomain: string;
  /** The ImpersonatedIdentity metadata, if any (a SPIFFE URI). Absent means "my own identity". */
  readonly requestedIdentity?: string;
  /** Pods to consider for node-agent impersonation; may be all pods or those of the requested SA. */
  readonly pods: readonly PodFacts[];
  /** Service accounts ("namespace/name") of node agents allowed to impersonate, e.g. "weft-system/ztunnel". */
  readonly trustedNodeAgents: ReadonlySet<string> | readonly string[];
}

export type AuthorizeDecision =
  | { readonly allowed: true; readonly identity: string; readonly impersonated: boolean }
  | {
      readonly allowed: false;
      readonly status: "UNAUTHENTICATED" | "PERMISSION_DENIED";
      readonly reason: CaFailureReason;
      readonly message: string;
    };

function deny(reason: CaFailureReason, message: string): AuthorizeDecision {
  return { allowed: false, status: "PERMISSION_DENIED", reason, message };
}

function isTerminated(pod: PodFacts): boolean {
  return pod.phase === "Succeeded" || pod.phase === "Failed";
}

export function authorizeCertificateRequest(input: AuthorizeInput): AuthorizeDecision {
  const { caller, trustDomain } = input;
  if (caller === undefined) {
    return {
      allowed: false,
      status: "UNAUTHENTICATED",
      reason: "token_missing",
      message:
        "no authenticated caller — send a valid service account token as 'authorization: Bearer <token>'",
    };
  }
  const own = formatSpiffeId({
    trustDomain,
    namespace: caller.namespace,
    serviceAccount: caller.serviceAccount,
  });
  const callerKey = serviceAccountKey(caller);
  const requested = input.requestedIdentity;
  if (requested === undefined || requested === "" || requested === own) {
    return { allowed: true, identity: own, impersonated: false };
  }

  const target = parseSpiffeId(requested);
  if (target === undefined) {
    return deny(
      "identity_invalid",
      `requested identity "${requested}" is not of the form spiffe://<trust domain>/ns/<namespace>/sa/<service account>`,
    );
  }
  if (target.trustDomain !== trustDomain) {
    return deny(
      "identity_foreign_trust_domain",
      `requested identity ${requested} is in trust domain "${target.trustDomain}" but this CA issues only "${trustDomain}"`,
    );
  }
  const agents = input.trustedNodeAgents;
  const isNodeAgent = Array.isArray(agents)
    ? agents.includes(callerKey)
    : (agents as ReadonlySet<string>).has(callerKey);
  if (!isNodeAgent) {
    return deny(
      "impersonation_not_allowed",
      `${own} asked for ${requested}, but only trusted node agents may request another identity ` +
        `(caller service account ${callerKey} is not in the trusted node agents list); ` +
        `a workload may only request its own identity — drop the ImpersonatedIdentity metadata`,
    );
  }
  if (caller.nodeName === undefined || caller.nodeName === "") {
    return deny(
      "impersonation_no_node",
      `node agent ${callerKey} asked for ${requested}, but its token names no node — ` +
        `use a pod-bound projected service account token so the CA knows which node it runs on`,
    );
  }
  const ofTarget = input.pods.filter(
    (p) => p.namespace === target.namespace && p.serviceAccount === target.serviceAccount && !isTerminated(p),
  );
  if (ofTarget.some((p) => p.nodeName === caller.nodeName)) {
    return { allowed: true, identity: requested, impersonated: true };
  }
  const elsewhere = [
    ...new Set(ofTarget.map((p) => p.nodeName).filter((n): n is string => n !== undefined)),
  ].sort();
  return deny(
    "impersonation_no_pod_on_node",
    `node agent on node ${caller.nodeName} asked for ${requested}, but no running pod of service account ` +
      `${target.namespace}/${target.serviceAccount} is scheduled on that node` +
      (elsewhere.length > 0
        ? ` (its pods are on ${elsewhere.slice(0, 5).join(", ")})`
        : " (it has no running pods)") +
      ` — a node agent may only request identities of pods on its own node`,
  );
}
