// Who may read mesh configuration over xDS (DESIGN §5, §6), decided the way Istio decides it for
// its xDS port: the client authenticates with a bearer token (the CA's authenticator: the file
// token table here, TokenReview in Kubernetes) or with a client certificate our CA issued (its
// SPIFFE URI SAN is the identity); then only node agents (ztunnels, the service accounts in
// WEFT_CA_TRUSTED_NODE_AGENTS) and waypoints serving a Gateway of their own namespace may
// subscribe. A pure function of plain facts; gathering the facts (token lookup, chain
// verification) is in auth-peer.ts, and the server applies the decision to the stream.
import type { AuthenticationResult } from "../ca/tokens.js";
import { formatSpiffeId, parseSpiffeId, serviceAccountKey } from "../ca/spiffe.js";

/** The outcome of checking the bearer token, or that the authenticator itself could not answer. */
export type TokenCheck =
  | AuthenticationResult
  | { readonly ok: false; readonly reason: "token_review_unavailable"; readonly message: string };

/** The outcome of verifying the client certificate's chain against the trust bundle. */
export type CertificateCheck =
  { readonly ok: true; readonly uriSans: readonly string[] } | { readonly ok: false; readonly why: string };

export interface XdsAccessFacts {
  /** undefined when the client sent no `authorization` metadata. */
  readonly token: TokenCheck | undefined;
  /** undefined when the client presented no certificate that TLS verified. */
  readonly certificate: CertificateCheck | undefined;
  /** The Node metadata WEFT_WAYPOINT (`namespace/gateway`), when the client says it is a waypoint. */
  readonly waypoint: string | undefined;
  readonly trustDomain: string;
  /** Service accounts ("namespace/name") of node agents: they may read all configuration. */
  readonly trustedNodeAgents: ReadonlySet<string>;
}

/** A closed set, for logs and metrics labels; the message says the rest. */
export type XdsDenyReason =
  | "no_credentials"
  | "token_missing"
  | "token_malformed"
  | "token_unknown"
  | "token_expired"
  | "token_review_unavailable"
  | "certificate_invalid"
  | "certificate_no_identity"
  | "certificate_foreign_trust_domain"
  | "not_node_agent_or_waypoint"
  | "waypoint_malformed"
  | "waypoint_other_namespace";

export type XdsAccessDecision =
  | {
      readonly allowed: true;
      /** The SPIFFE identity the client authenticated as. */
      readonly identity: string;
      readonly via: "certificate" | "token";
      readonly role: "node-agent" | "waypoint";
    }
  | {
      readonly allowed: false;
      readonly status: "UNAUTHENTICATED" | "PERMISSION_DENIED" | "UNAVAILABLE";
      readonly reason: XdsDenyReason;
      /** "<cause> — <fix>", sent to the client as the status details. */
      readonly message: string;
    };

interface Principal {
  readonly identity: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly via: "certificate" | "token";
}

type Denial = Extract<XdsAccessDecision, { allowed: false }>;

const HOW_TO_AUTHENTICATE =
  "send the service account token as 'authorization: Bearer <token>' metadata (DeltaXdsClient " +
  "options token / tokenFile), or connect with a client certificate issued by the weft CA " +
  "(credentials cert / key)";

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function unauthenticated(reason: XdsDenyReason, message: string): Denial {
  return { allowed: false, status: "UNAUTHENTICATED", reason, message };
}

function denied(reason: XdsDenyReason, message: string): Denial {
  return { allowed: false, status: "PERMISSION_DENIED", reason, message };
}

/** The identity a verified certificate carries, or why it carries none we accept. */
function certificatePrincipal(check: CertificateCheck, trustDomain: string): Principal | Denial {
  if (!check.ok) {
    return unauthenticated(
      "certificate_invalid",
      `the client certificate does not verify against the mesh trust bundle: ${check.why} — ${HOW_TO_AUTHENTICATE}`,
    );
  }
  const ids = check.uriSans.map((uri) => ({ uri, id: parseSpiffeId(uri) }));
  const spiffe = ids.filter((x) => x.id !== undefined);
  if (spiffe.length !== 1) {
    return unauthenticated(
      "certificate_no_identity",
      `the client certificate carries ${spiffe.length === 0 ? "no" : spiffe.length} SPIFFE URI SAN(s) ` +
        `(${check.uriSans.length > 0 ? check.uriSans.join(", ") : "none"}), expected exactly one ` +
        `spiffe://<trust domain>/ns/<namespace>/sa/<service account> — use a workload certificate from the weft CA`,
    );
  }
  const { uri, id } = spiffe[0]!;
  if (id!.trustDomain !== trustDomain) {
    return unauthenticated(
      "certificate_foreign_trust_domain",
      `the client certificate's identity ${uri} is in trust domain "${id!.trustDomain}", ` +
        `but this control plane serves "${trustDomain}" — use a certificate issued for ${trustDomain}`,
    );
  }
  return { identity: uri, namespace: id!.namespace, serviceAccount: id!.serviceAccount, via: "certificate" };
}

function tokenPrincipal(check: TokenCheck, trustDomain: string): Principal | Denial {
  if (check.ok) {
    const { namespace, serviceAccount } = check.caller;
    return {
      identity: formatSpiffeId({ trustDomain, namespace, serviceAccount }),
      namespace,
      serviceAccount,
      via: "token",
    };
  }
  if (check.reason === "token_review_unavailable") {
    return {
      allowed: false,
      status: "UNAVAILABLE",
      reason: check.reason,
      message: `${check.message} — retry; the controller could not verify the token right now`,
    };
  }
  const message = check.message.includes(" — ") ? check.message : `${check.message} — ${HOW_TO_AUTHENTICATE}`;
  return unauthenticated(check.reason, `xDS authentication failed: ${message}`);
}

/**
 * Authentication: a verified certificate with one SPIFFE identity in our trust domain wins, else a
 * valid bearer token (Istio tries its authenticators in order; the first success counts). With
 * neither, the refusal names what failed and how to authenticate.
 */
export function authenticateXdsClient(
  facts: Pick<XdsAccessFacts, "token" | "certificate" | "trustDomain">,
): Principal | Denial {
  const fromCert =
    facts.certificate === undefined ? undefined : certificatePrincipal(facts.certificate, facts.trustDomain);
  if (fromCert !== undefined && !isDenial(fromCert)) return fromCert;
  const fromToken = facts.token === undefined ? undefined : tokenPrincipal(facts.token, facts.trustDomain);
  if (fromToken !== undefined && !isDenial(fromToken)) return fromToken;
  if (fromToken === undefined) {
    return (
      fromCert ??
      unauthenticated(
        "no_credentials",
        "the xDS client sent neither a bearer token nor a client certificate signed by the mesh CA " +
          `(a certificate from another CA is ignored) — ${HOW_TO_AUTHENTICATE}`,
      )
    );
  }
  // Both failed: the token's reason leads (it is what most clients send); the certificate's follows.
  if (fromCert === undefined) return fromToken;
  return { ...fromToken, message: `${fromToken.message}; also ${fromCert.message}` };
}

function isDenial(x: Principal | Denial): x is Denial {
  return "allowed" in x;
}

/**
 * Authorization: node agents read everything; a waypoint reads the configuration of a Gateway in
 * its own namespace; any other workload identity reads nothing.
 */
export function authorizeXdsClient(
  principal: Principal,
  facts: Pick<XdsAccessFacts, "waypoint" | "trustedNodeAgents">,
): XdsAccessDecision {
  const key = serviceAccountKey(principal);
  const allow = (role: "node-agent" | "waypoint"): XdsAccessDecision => ({
    allowed: true,
    identity: principal.identity,
    via: principal.via,
    role,
  });
  if (facts.trustedNodeAgents.has(key)) return allow("node-agent");
  const waypoint = facts.waypoint;
  if (waypoint === undefined || waypoint === "") {
    const agents = [...facts.trustedNodeAgents].sort().join(", ") || "none configured";
    return denied(
      "not_node_agent_or_waypoint",
      `${principal.identity} may not read mesh configuration: only node agents (WEFT_CA_TRUSTED_NODE_AGENTS: ` +
        `${agents}) and waypoints (Node metadata WEFT_WAYPOINT=<namespace>/<gateway>) may subscribe — ` +
        `if ${key} is a node agent add it to WEFT_CA_TRUSTED_NODE_AGENTS; workloads get their configuration ` +
        `through their node's ztunnel`,
    );
  }
  const [namespace, name, ...rest] = waypoint.split("/");
  if (
    rest.length > 0 ||
    namespace === undefined ||
    name === undefined ||
    !DNS1123.test(namespace) ||
    name === ""
  ) {
    return denied(
      "waypoint_malformed",
      `Node metadata WEFT_WAYPOINT "${waypoint}" is not "<namespace>/<gateway name>" — set it to the waypoint's Gateway`,
    );
  }
  if (namespace !== principal.namespace) {
    return denied(
      "waypoint_other_namespace",
      `${principal.identity} subscribed as waypoint ${waypoint}, but a waypoint may only serve Gateways in ` +
        `its own namespace (${principal.namespace}) — run the waypoint for ${waypoint} under a service ` +
        `account in namespace ${namespace}`,
    );
  }
  return allow("waypoint");
}

/** The whole decision: authenticate, then authorize. */
export function decideXdsAccess(facts: XdsAccessFacts): XdsAccessDecision {
  const principal = authenticateXdsClient(facts);
  if (isDenial(principal)) return principal;
  return authorizeXdsClient(principal, facts);
}
