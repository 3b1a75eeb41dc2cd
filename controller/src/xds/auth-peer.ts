// Gathers the facts the xDS access decision (auth.ts) needs from a stream's credentials: looks the
// bearer token up with the CA's authenticator and verifies the client certificate's chain against
// the trust bundle. This is the I/O edge; the decision itself stays pure.
import type { Authenticator } from "../ca/tokens.js";
import type { TrustBundle } from "../ca/trust-bundle.js";
import { uriSans } from "../ca/certs.js";
import { x509 } from "../ca/x509.js";
import { decideXdsAccess, type CertificateCheck, type TokenCheck, type XdsAccessDecision } from "./auth.js";

/** What the server knows about a stream when its first request arrives. */
export interface XdsStreamCredentials {
  /** The `authorization` call metadata, if sent. */
  readonly authorization: string | undefined;
  /**
   * DER of the client's leaf certificate, present only when TLS verified it against the trust
   * bundle the server was configured with (grpc-js exposes nothing otherwise).
   */
  readonly peerCertificate: Uint8Array | undefined;
  /** Node metadata WEFT_WAYPOINT of the first request. */
  readonly waypoint: string | undefined;
}

/** Decides whether a stream may proceed; set as DeltaXdsServerOptions.authorize. */
export type XdsAuthorizer = (credentials: XdsStreamCredentials) => Promise<XdsAccessDecision>;

export interface XdsAuthorizerOptions {
  /** Bearer token check, the same one the CA uses (called on every stream, so token rotation applies). */
  readonly authenticate: Authenticator;
  /** The mesh trust bundle; read on every stream, so root rotation applies. */
  readonly trustBundle: () => TrustBundle;
  /** Intermediates between our leaves and the roots (the CA's issuer chain), for chain building. */
  readonly intermediates?: () => readonly x509.X509Certificate[];
  readonly trustDomain: string;
  /** Service accounts ("namespace/name") of node agents. */
  readonly trustedNodeAgents: Iterable<string>;
  readonly now?: () => Date;
}

/** Verifies a client leaf certificate (DER) against the bundle. Never throws. */
export async function checkClientCertificate(
  der: Uint8Array,
  bundle: TrustBundle,
  intermediates: readonly x509.X509Certificate[],
  now: Date,
): Promise<CertificateCheck> {
  let leaf: x509.X509Certificate;
  try {
    leaf = new x509.X509Certificate(der);
  } catch (err) {
    return { ok: false, why: `cannot parse the certificate: ${(err as Error).message}` };
  }
  const verdict = await bundle.verifyCertificates(leaf, intermediates, now);
  if (!verdict.ok) return { ok: false, why: verdict.why };
  try {
    return { ok: true, uriSans: uriSans(leaf) };
  } catch (err) {
    return { ok: false, why: `cannot read the subject alternative names: ${(err as Error).message}` };
  }
}

export function createXdsAuthorizer(opts: XdsAuthorizerOptions): XdsAuthorizer {
  const trustedNodeAgents = new Set(opts.trustedNodeAgents);
  const clock = opts.now ?? (() => new Date());
  return async (credentials) => {
    const now = clock();
    const hasToken = credentials.authorization !== undefined && credentials.authorization.trim() !== "";
    const [token, certificate] = await Promise.all([
      hasToken ? checkToken(opts.authenticate, credentials.authorization, now) : undefined,
      credentials.peerCertificate === undefined
        ? undefined
        : checkClientCertificate(
            credentials.peerCertificate,
            opts.trustBundle(),
            opts.intermediates?.() ?? [],
            now,
          ),
    ]);
    return decideXdsAccess({
      token,
      certificate,
      waypoint: credentials.waypoint,
      trustDomain: opts.trustDomain,
      trustedNodeAgents,
    });
  };
}

async function checkToken(
  authenticate: Authenticator,
  authorization: string | undefined,
  now: Date,
): Promise<TokenCheck> {
  try {
    return await authenticate(authorization, now);
  } catch (err) {
    // A TokenReview backend that is down must not read as "bad token": the client should retry.
    return {
      ok: false,
      reason: "token_review_unavailable",
      message: `cannot verify the bearer token: ${(err as Error).message}`,
    };
  }
}
