// Authorization policy matching with Istio's semantics (istio/ztunnel src/rbac.rs):
//   policy = ANY rule; rule = ALL clauses; clause = ANY match; match = ALL non-empty fields,
//   values within a field OR, `not*` fields exclude. A match with no fields at all is skipped (never
//   matches); a clause with no matches and a rule with no clauses match everything; a policy with no
//   rules matches nothing. Principals are compared without their `spiffe://` prefix, so a suffix
//   match `*/sa/foo` or a prefix match `cluster.local/ns/a/*` behaves as in Istio.
import { CidrSet, parseCidr, type Cidr } from "./ip.js";
import type { Identity } from "./identity.js";
import type { Authorization, Match, ServiceAccountMatch, StringMatch } from "./types.js";

/** The facts of one connection that L4 policy can see. IPs are canonical. */
export interface RbacConnection {
  /** Peer identity from its mTLS certificate; undefined for plaintext. */
  readonly sourceIdentity: Identity | undefined;
  /** The peer's SPIFFE URI (empty string for plaintext). */
  readonly sourcePrincipal: string;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
}

interface CompiledMatch {
  readonly namespaces: readonly StringMatch[];
  readonly notNamespaces: readonly StringMatch[];
  readonly principals: readonly StringMatch[];
  readonly notPrincipals: readonly StringMatch[];
  readonly serviceAccounts: readonly ServiceAccountMatch[];
  readonly notServiceAccounts: readonly ServiceAccountMatch[];
  readonly sourceIps: CidrSet | undefined;
  readonly notSourceIps: CidrSet | undefined;
  readonly destinationIps: CidrSet | undefined;
  readonly notDestinationIps: CidrSet | undefined;
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
  readonly empty: boolean;
}

/** An Authorization with its CIDRs parsed once at apply time, so matching allocates nothing. */
export interface CompiledAuthorization {
  readonly key: string;
  readonly policy: Authorization;
  readonly rules: readonly (readonly (readonly CompiledMatch[])[])[];
}

const NONE: readonly never[] = [];

export function stringMatches(m: StringMatch, value: string): boolean {
  if ("exact" in m) return value === m.exact;
  if ("prefix" in m) return value.startsWith(m.prefix);
  if ("suffix" in m) return value.endsWith(m.suffix);
  return value.length > 0;
}

/**
 * Istio's user-facing string syntax: `*` = presence, `foo*` = prefix, `*foo` = suffix, else exact.
 * For building policies in code and tests; the wire format already carries the structured form.
 */
export function stringMatch(pattern: string): StringMatch {
  if (pattern === "*") return { presence: true };
  if (pattern.endsWith("*")) return { prefix: pattern.slice(0, -1) };
  if (pattern.startsWith("*")) return { suffix: pattern.slice(1) };
  return { exact: pattern };
}

const SPIFFE_PREFIX = "spiffe://";

function principalMatches(m: StringMatch, principal: string): boolean {
  if (!principal.startsWith(SPIFFE_PREFIX)) return false;
  return stringMatches(m, principal.slice(SPIFFE_PREFIX.length));
}

function serviceAccountMatches(m: ServiceAccountMatch, id: Identity | undefined): boolean {
  return id !== undefined && id.namespace === m.namespace && id.serviceAccount === m.serviceAccount;
}

/** Parse CIDR text; returns the problem for validation, or the set. */
export function compileCidrs(list: readonly string[] | undefined): CidrSet | string | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const cidrs: Cidr[] = [];
  for (const text of list) {
    const c = parseCidr(text);
    if (c === undefined) return `invalid CIDR ${JSON.stringify(text)}`;
    cidrs.push(c);
  }
  return new CidrSet(cidrs);
}

/** Compile a validated Authorization. Throws only on input `validateAuthorization` would have rejected. */
export function compileAuthorization(key: string, policy: Authorization): CompiledAuthorization {
  return {
    key,
    policy,
    rules: policy.rules.map((rule) => rule.clauses.map((clause) => clause.matches.map(compileMatch))),
  };
}

function cidrsOrThrow(list: readonly string[] | undefined): CidrSet | undefined {
  const r = compileCidrs(list);
  if (typeof r === "string") throw new Error(r);
  return r;
}

function compileMatch(m: Match): CompiledMatch {
  const compiled = {
    namespaces: m.namespaces ?? NONE,
    notNamespaces: m.notNamespaces ?? NONE,
    principals: m.principals ?? NONE,
    notPrincipals: m.notPrincipals ?? NONE,
    serviceAccounts: m.serviceAccounts ?? NONE,
    notServiceAccounts: m.notServiceAccounts ?? NONE,
    sourceIps: cidrsOrThrow(m.sourceIps),
    notSourceIps: cidrsOrThrow(m.notSourceIps),
    destinationIps: cidrsOrThrow(m.destinationIps),
    notDestinationIps: cidrsOrThrow(m.notDestinationIps),
    destinationPorts: m.destinationPorts ?? NONE,
    notDestinationPorts: m.notDestinationPorts ?? NONE,
  };
  const empty =
    compiled.namespaces.length === 0 &&
    compiled.notNamespaces.length === 0 &&
    compiled.principals.length === 0 &&
    compiled.notPrincipals.length === 0 &&
    compiled.serviceAccounts.length === 0 &&
    compiled.notServiceAccounts.length === 0 &&
    compiled.sourceIps === undefined &&
    compiled.notSourceIps === undefined &&
    compiled.destinationIps === undefined &&
    compiled.notDestinationIps === undefined &&
    compiled.destinationPorts.length === 0 &&
    compiled.notDestinationPorts.length === 0;
  return { ...compiled, empty };
}

function field<T>(positive: readonly T[], negative: readonly T[], test: (v: T) => boolean): boolean {
  if (positive.length > 0 && !positive.some(test)) return false;
  if (negative.length > 0 && negative.some(test)) return false;
  return true;
}

function cidrField(positive: CidrSet | undefined, negative: CidrSet | undefined, ip: string): boolean {
  if (positive !== undefined && !positive.contains(ip)) return false;
  if (negative !== undefined && negative.contains(ip)) return false;
  return true;
}

function matchMatches(m: CompiledMatch, conn: RbacConnection): boolean {
  const ns = conn.sourceIdentity?.namespace ?? "";
  const port = conn.destinationPort;
  return (
    cidrField(m.destinationIps, m.notDestinationIps, conn.destinationIp) &&
    cidrField(m.sourceIps, m.notSourceIps, conn.sourceIp) &&
    field(m.destinationPorts, m.notDestinationPorts, (p) => p === port) &&
    field(m.serviceAccounts, m.notServiceAccounts, (s) => serviceAccountMatches(s, conn.sourceIdentity)) &&
    field(m.principals, m.notPrincipals, (p) => principalMatches(p, conn.sourcePrincipal)) &&
    field(m.namespaces, m.notNamespaces, (n) => stringMatches(n, ns))
  );
}

/** Whether `policy` matches `conn` (regardless of its action). */
export function authorizationMatches(policy: CompiledAuthorization, conn: RbacConnection): boolean {
  for (const rule of policy.rules) {
    let ruleMatches = true;
    for (const clause of rule) {
      if (clause.length === 0) continue;
      let clauseMatches = false;
      for (const m of clause) {
        if (!m.empty && matchMatches(m, conn)) {
          clauseMatches = true;
          break;
        }
      }
      if (!clauseMatches) {
        ruleMatches = false;
        break;
      }
    }
    if (ruleMatches) return true;
  }
  return false;
}
