// Inbound L4 authorization (istio/ztunnel `assert_rbac`) and PeerAuthentication. Pure functions of
// (snapshot, connection facts); the caller supplies the destination workload it resolved.
import { parseIdentity } from "../identity.js";
import { canonicalIp } from "../ip.js";
import { authorizationMatches, type CompiledAuthorization, type RbacConnection } from "../rbac.js";
import type { Snapshot } from "../store.js";
import type { PeerAuthenticationMode, Workload } from "../types.js";

export interface InboundConnection {
  /** The peer's SPIFFE URI from its verified certificate; undefined for plaintext. */
  readonly sourcePrincipal?: string;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly destinationWorkload: Workload;
}

export type InboundReason =
  /** A DENY policy matched. */
  | "DENY_MATCHED"
  /** No ALLOW policy applies to the workload, so everything not denied is allowed. */
  | "NO_ALLOW_POLICIES"
  /** An ALLOW policy matched. */
  | "ALLOW_MATCHED"
  /** ALLOW policies apply and none matched. */
  | "NO_ALLOW_MATCH";

export interface AuthorizationOutcome {
  readonly allow: boolean;
  readonly reason: InboundReason;
  /** Key (`namespace/name`) of the policy that decided, for DENY_MATCHED and ALLOW_MATCHED. */
  readonly policy?: string;
}

export interface InboundDecision extends AuthorizationOutcome {
  /** Keys of AUDIT policies that matched; auditing never changes the result. */
  readonly audits: readonly string[];
  /**
   * Present when dry-run policies apply: which of them matched, and the outcome had they been
   * enforced alongside the enforced ones (what an operator checks before turning one on).
   */
  readonly dryRun?: AuthorizationOutcome & { readonly matched: readonly string[] };
}

interface Tally {
  denyPolicy: string | undefined;
  allowCount: number;
  allowPolicy: string | undefined;
}

function outcome(t: Tally): AuthorizationOutcome {
  if (t.denyPolicy !== undefined) return { allow: false, reason: "DENY_MATCHED", policy: t.denyPolicy };
  if (t.allowCount === 0) return { allow: true, reason: "NO_ALLOW_POLICIES" };
  if (t.allowPolicy !== undefined) return { allow: true, reason: "ALLOW_MATCHED", policy: t.allowPolicy };
  return { allow: false, reason: "NO_ALLOW_MATCH" };
}

/**
 * Calls `visit` once for each compiled policy that applies to `workload`: global ones, its
 * namespace's, then those it lists itself (unknown keys skipped, as ztunnel does: the policy is
 * not pushed yet or was just removed). Allocates nothing; this runs for every inbound connection.
 */
export function forEachApplicableAuthorization(
  snapshot: Snapshot,
  workload: Workload,
  visit: (policy: CompiledAuthorization) => void,
): void {
  for (const k of snapshot.globalAuthorizations) {
    const p = snapshot.authorization(k);
    if (p !== undefined) visit(p);
  }
  for (const k of snapshot.namespaceAuthorizations(workload.namespace)) {
    const p = snapshot.authorization(k);
    if (p !== undefined) visit(p);
  }
  const root = snapshot.options.rootNamespace;
  for (const k of workload.authorizationPolicies) {
    const p = snapshot.authorization(k);
    if (p === undefined) continue;
    // A listed policy that the scope indexes already delivered must not count twice.
    const { scope, namespace } = p.policy;
    if (
      scope !== "WORKLOAD_SELECTOR" &&
      (scope === "GLOBAL" || namespace === root || namespace === workload.namespace)
    ) {
      continue;
    }
    visit(p);
  }
}

/** The policies that apply to `workload`, in evaluation order (for admin dumps and debugging). */
export function applicableAuthorizations(snapshot: Snapshot, workload: Workload): CompiledAuthorization[] {
  const out: CompiledAuthorization[] = [];
  forEachApplicableAuthorization(snapshot, workload, (p) => out.push(p));
  return out;
}

/**
 * Istio's order: any matching DENY denies; else no ALLOW policy → allow; else any matching ALLOW →
 * allow; else deny. AUDIT policies are matched and reported only. Dry-run policies are matched and
 * reported (with the outcome they would have produced) but not enforced.
 */
export function authorizeInbound(snapshot: Snapshot, conn: InboundConnection): InboundDecision {
  const principal = conn.sourcePrincipal ?? "";
  const rbacConn: RbacConnection = {
    sourceIdentity: principal === "" ? undefined : parseIdentity(principal),
    sourcePrincipal: principal,
    sourceIp: canonicalIp(conn.sourceIp) ?? conn.sourceIp,
    destinationIp: canonicalIp(conn.destinationIp) ?? conn.destinationIp,
    destinationPort: conn.destinationPort,
  };
  const enforced: Tally = { denyPolicy: undefined, allowCount: 0, allowPolicy: undefined };
  const shadow: Tally = { denyPolicy: undefined, allowCount: 0, allowPolicy: undefined };
  const audits: string[] = [];
  const dryMatched: string[] = [];
  let dryRunApplies = false;

  forEachApplicableAuthorization(snapshot, conn.destinationWorkload, (p) => {
    const { action, dryRun } = p.policy;
    if (action === "AUDIT") {
      if (authorizationMatches(p, rbacConn)) audits.push(p.key);
      return;
    }
    if (dryRun) {
      dryRunApplies = true;
      const matched = authorizationMatches(p, rbacConn);
      if (matched) dryMatched.push(p.key);
      if (action === "DENY") {
        if (matched) shadow.denyPolicy ??= p.key;
      } else {
        shadow.allowCount++;
        if (matched) shadow.allowPolicy ??= p.key;
      }
      return;
    }
    if (action === "DENY") {
      if (enforced.denyPolicy === undefined && authorizationMatches(p, rbacConn)) enforced.denyPolicy = p.key;
    } else {
      enforced.allowCount++;
      // Once decided (denied, or an ALLOW matched) further ALLOW policies only need counting.
      if (
        enforced.denyPolicy === undefined &&
        enforced.allowPolicy === undefined &&
        authorizationMatches(p, rbacConn)
      ) {
        enforced.allowPolicy = p.key;
      }
    }
  });

  const decision = outcome(enforced);
  if (!dryRunApplies) return { ...decision, audits };
  const combined = outcome({
    // An enforced DENY wins over a dry-run one when both matched: it is what actually decided.
    denyPolicy: enforced.denyPolicy ?? shadow.denyPolicy,
    allowCount: enforced.allowCount + shadow.allowCount,
    allowPolicy: enforced.allowPolicy ?? shadow.allowPolicy,
  });
  return { ...decision, audits, dryRun: { ...combined, matched: dryMatched } };
}

export type EffectivePeerAuthenticationMode = Exclude<PeerAuthenticationMode, "UNSET">;

export interface PeerAuthenticationDecision {
  readonly allow: boolean;
  readonly mode: EffectivePeerAuthenticationMode;
  /** Key of the PeerAuthentication that set the mode; absent when the mesh default applied. */
  readonly policy?: string;
}

/** The mode when no PeerAuthentication sets one, as in Istio. */
export const DEFAULT_PEER_AUTHENTICATION_MODE: EffectivePeerAuthenticationMode = "PERMISSIVE";

function firstSet(
  snapshot: Snapshot,
  keys: readonly string[],
  port: number | undefined,
): { mode: EffectivePeerAuthenticationMode; policy: string } | undefined {
  // Several policies at one level is a misconfiguration Istio resolves by age; without creation
  // times we resolve it by key order so every ztunnel agrees.
  for (const key of [...keys].sort()) {
    const pa = snapshot.peerAuthentication(key);
    if (pa === undefined) continue;
    const portMode = port === undefined ? undefined : pa.portLevelMtls?.[port];
    if (portMode !== undefined && portMode !== "UNSET") return { mode: portMode, policy: key };
    if (pa.mode !== "UNSET") return { mode: pa.mode, policy: key };
  }
  return undefined;
}

/** The PeerAuthentication mode in force for `workload` (on `port`, if port-level settings matter). */
export function effectivePeerAuthentication(
  snapshot: Snapshot,
  workload: Workload,
  port?: number,
): { readonly mode: EffectivePeerAuthenticationMode; readonly policy?: string } {
  return (
    firstSet(snapshot, workload.peerAuthentications ?? [], port) ??
    firstSet(snapshot, snapshot.namespacePeerAuthentications(workload.namespace), undefined) ??
    firstSet(snapshot, snapshot.meshPeerAuthentications, undefined) ?? {
      mode: DEFAULT_PEER_AUTHENTICATION_MODE,
    }
  );
}

/**
 * Whether a connection to `workload` may proceed given how it arrived: mTLS (HBONE) is always
 * acceptable; plaintext only when the effective mode is not STRICT. Workload-scoped policies beat
 * namespace ones, which beat mesh-wide ones; UNSET inherits.
 */
export function checkPeerAuthentication(
  snapshot: Snapshot,
  workload: Workload,
  isMtls: boolean,
  port?: number,
): PeerAuthenticationDecision {
  const eff = effectivePeerAuthentication(snapshot, workload, port);
  return { allow: isMtls || eff.mode !== "STRICT", ...eff };
}
