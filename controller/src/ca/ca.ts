// The certificate authority service core, independent of transport: authenticate the bearer
// token, authorize the requested identity, sign the CSR. The gRPC IstioCertificateService is a
// thin layer over createCertificate; metrics count through the onEvent hook.
import { authorizeCertificateRequest, type PodFacts } from "./authz.js";
import { fingerprint } from "./certs.js";
import { caError, failureReasonOf, type CaErrorCode, type CaFailureReason } from "./errors.js";
import type { SigningAuthority } from "./root.js";
import { DEFAULT_MAX_TTL_SECONDS, DEFAULT_TTL_SECONDS, signCsr } from "./sign.js";
import { parseSpiffeId } from "./spiffe.js";
import type { Authenticator } from "./tokens.js";
import { TrustBundle } from "./trust-bundle.js";
import type { x509 } from "./x509.js";

export interface CreateCertificateRequest {
  /** The `authorization` header/metadata value: "Bearer <token>". */
  readonly authorization: string | undefined;
  readonly csrPem: string;
  /** Requested lifetime in seconds; 0 or absent means the default. */
  readonly validitySeconds?: number;
  /** ImpersonatedIdentity metadata (node agents only). */
  readonly impersonatedIdentity?: string;
}

export interface CreateCertificateResponse {
  /** PEM certificates: leaf first, root last. */
  readonly certChain: string[];
}

/** What the CA reports for counting. `reason` is a closed set, fit for a metric label. */
export type CaEvent =
  | {
      readonly type: "issued";
      readonly identity: string;
      readonly impersonated: boolean;
      readonly serial: string;
      readonly notAfter: Date;
    }
  | {
      readonly type: "refused";
      readonly code: string;
      readonly reason: CaFailureReason;
      readonly message: string;
    }
  | { readonly type: "trust_bundle_changed"; readonly fingerprints: readonly string[] };

export interface CertificateAuthorityOptions {
  readonly authority: SigningAuthority;
  readonly trustDomain: string;
  readonly authenticate: Authenticator;
  /** Pods of a service account, for node-agent impersonation checks. */
  readonly podsOf: (namespace: string, serviceAccount: string) => readonly PodFacts[];
  /** Service accounts ("namespace/name") of node agents allowed to impersonate, e.g. "weft-system/ztunnel". */
  readonly trustedNodeAgents: Iterable<string>;
  readonly defaultTtlSeconds?: number;
  readonly maxTtlSeconds?: number;
  /** Extra trust anchors besides the authority's root, e.g. the previous root after a restart mid-rotation. */
  readonly extraRoots?: Iterable<x509.X509Certificate>;
  readonly onEvent?: (event: CaEvent) => void;
  readonly clock?: () => Date;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly trustBundle: TrustBundle;
  #authority: SigningAuthority;
  readonly #opts: CertificateAuthorityOptions;
  readonly #trustedNodeAgents: ReadonlySet<string>;
  readonly #clock: () => Date;

  constructor(opts: CertificateAuthorityOptions) {
    this.#opts = opts;
    this.trustDomain = opts.trustDomain;
    this.#authority = opts.authority;
    this.#trustedNodeAgents = new Set(opts.trustedNodeAgents);
    this.#clock = opts.clock ?? (() => new Date());
    this.trustBundle = new TrustBundle([...(opts.extraRoots ?? []), opts.authority.root]);
  }

  /** The authority currently signing. */
  get authority(): SigningAuthority {
    return this.#authority;
  }

  /**
   * Authenticates, authorizes and signs. Throws WeftError WEFT_E_CA_UNAUTHENTICATED,
   * WEFT_E_CA_PERMISSION_DENIED, WEFT_E_CA_BAD_CSR or WEFT_E_INVALID_INPUT (bad validity);
   * every outcome is reported through onEvent.
   */
  async createCertificate(req: CreateCertificateRequest): Promise<CreateCertificateResponse> {
    const now = this.#clock();
    try {
      const authn = await this.#opts.authenticate(req.authorization, now);
      if (!authn.ok) throw caError("WEFT_E_CA_UNAUTHENTICATED", authn.message, authn.reason);

      const target =
        req.impersonatedIdentity !== undefined ? parseSpiffeId(req.impersonatedIdentity) : undefined;
      const decision = authorizeCertificateRequest({
        caller: authn.caller,
        trustDomain: this.trustDomain,
        ...(req.impersonatedIdentity !== undefined ? { requestedIdentity: req.impersonatedIdentity } : {}),
        pods: target !== undefined ? this.#opts.podsOf(target.namespace, target.serviceAccount) : [],
        trustedNodeAgents: this.#trustedNodeAgents,
      });
      if (!decision.allowed) {
        const code: CaErrorCode =
          decision.status === "UNAUTHENTICATED" ? "WEFT_E_CA_UNAUTHENTICATED" : "WEFT_E_CA_PERMISSION_DENIED";
        throw caError(code, decision.message, decision.reason);
      }

      const authority = this.#authority;
      const signed = await signCsr(authority, {
        csrPem: req.csrPem,
        identity: decision.identity,
        ...(req.validitySeconds !== undefined ? { ttlSeconds: req.validitySeconds } : {}),
        defaultTtlSeconds: this.#opts.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS,
        maxTtlSeconds: this.#opts.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS,
        now,
      });
      this.#emit({
        type: "issued",
        identity: decision.identity,
        impersonated: decision.impersonated,
        serial: signed.leaf.serialNumber,
        notAfter: signed.leaf.notAfter,
      });
      return { certChain: signed.certChain };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.#emit({
        type: "refused",
        code: typeof code === "string" ? code : "WEFT_E_INTERNAL",
        reason: failureReasonOf(err),
        message: (err as Error).message,
      });
      throw err;
    }
  }

  /**
   * Switches signing to `next`. Its root joins the trust bundle and the previous roots stay, so
   * certificates issued before the switch keep verifying until retireRoot() after the overlap
   * (at least the longest leaf lifetime, once every workload has the new bundle).
   */
  rotateRoot(next: SigningAuthority): void {
    this.#authority = next;
    if (this.trustBundle.add(next.root).length > 0) this.#bundleChanged();
  }

  /** Drops an old root from the trust bundle. Refuses to drop the root currently signing. */
  retireRoot(root: x509.X509Certificate | string): boolean {
    const fp = typeof root === "string" ? root.toLowerCase() : fingerprint(root);
    if (fp === fingerprint(this.#authority.root)) {
      throw caError(
        "WEFT_E_INVALID_INPUT",
        `root ${fp} is the one currently signing and cannot be retired — rotate to a new root first`,
        "config",
      );
    }
    const removed = this.trustBundle.remove(fp);
    if (removed) this.#bundleChanged();
    return removed;
  }

  #bundleChanged(): void {
    this.#emit({ type: "trust_bundle_changed", fingerprints: this.trustBundle.fingerprints });
  }

  #emit(event: CaEvent): void {
    // A failing metrics hook must not turn an issued certificate into an error.
    try {
      this.#opts.onEvent?.(event);
    } catch {
      /* ignored on purpose */
    }
  }
}
