// The set of roots workloads trust. During a root rotation it holds the old and the new root, so
// certificates issued under either keep verifying and no connection fails (DESIGN §5).
import {
  describeCert,
  fingerprint,
  isCa,
  isSignedBy,
  mayIssueCertificates,
  parseCertificates,
  pathLenProblem,
  sameName,
  validityProblem,
  certPem,
} from "./certs.js";
import type { x509 } from "./x509.js";

/** Longest chain (leaf excluded) followed before giving up. */
const MAX_CHAIN_DEPTH = 8;

export type ChainVerdict =
  | {
      readonly ok: true;
      /** Leaf first, trust anchor last. */
      readonly path: readonly x509.X509Certificate[];
      /** SHA-256 fingerprint of the root the chain ended at. */
      readonly rootFingerprint: string;
    }
  | { readonly ok: false; readonly why: string };

export class TrustBundle {
  // Insertion order is kept: PEM output is stable and oldest root first.
  readonly #roots = new Map<string, x509.X509Certificate>();

  constructor(roots: Iterable<x509.X509Certificate> = []) {
    for (const root of roots) this.add(root);
  }

  /** Builds a bundle from concatenated PEM certificates. Throws CertificateParseError. */
  static fromPem(pem: string): TrustBundle {
    return new TrustBundle(parseCertificates(pem));
  }

  /**
   * Adds a root (or every certificate in a PEM string). Duplicates by fingerprint are ignored.
   * Returns the fingerprints added. Refuses non-CA certificates: trusting a leaf is a mistake.
   */
  add(root: x509.X509Certificate | string): string[] {
    const certs = typeof root === "string" ? parseCertificates(root) : [root];
    const added: string[] = [];
    for (const cert of certs) {
      if (!isCa(cert)) {
        throw new Error(`${describeCert(cert)} is not a CA certificate and cannot be a trust anchor`);
      }
      const fp = fingerprint(cert);
      if (this.#roots.has(fp)) continue;
      this.#roots.set(fp, cert);
      added.push(fp);
    }
    return added;
  }

  /** Removes a root by fingerprint or certificate. Returns whether it was present. */
  remove(root: x509.X509Certificate | string): boolean {
    return this.#roots.delete(typeof root === "string" ? root.toLowerCase() : fingerprint(root));
  }

  has(root: x509.X509Certificate | string): boolean {
    return this.#roots.has(typeof root === "string" ? root.toLowerCase() : fingerprint(root));
  }

  get size(): number {
    return this.#roots.size;
  }

  get roots(): readonly x509.X509Certificate[] {
    return [...this.#roots.values()];
  }

  get fingerprints(): readonly string[] {
    return [...this.#roots.keys()];
  }

  /** All roots as concatenated PEM: the content of the `weft-ca-root-cert` ConfigMap and a TLS `ca`. */
  toPem(): string {
    return this.roots.map(certPem).join("");
  }

  /**
   * Verifies that `leafPem` chains to a root in this bundle through the certificates in
   * `chainPem` (any order; the leaf itself and roots may be included). Checks signatures,
   * validity at `now`, and that every issuer is a CA allowed to sign. Never throws.
   */
  async verifyChain(
    leafPem: string,
    chainPem: readonly string[] = [],
    now: Date = new Date(),
  ): Promise<ChainVerdict> {
    let leaf: x509.X509Certificate | undefined;
    let pool: x509.X509Certificate[];
    try {
      leaf = parseCertificates(leafPem)[0];
      pool = chainPem.flatMap((pem) => parseCertificates(pem));
    } catch (err) {
      return { ok: false, why: `cannot parse certificates: ${(err as Error).message}` };
    }
    if (leaf === undefined) return { ok: false, why: "no leaf certificate" };
    return this.verifyCertificates(leaf, pool, now);
  }

  /** verifyChain over parsed certificates. */
  async verifyCertificates(
    leaf: x509.X509Certificate,
    intermediates: readonly x509.X509Certificate[],
    now: Date = new Date(),
  ): Promise<ChainVerdict> {
    if (this.#roots.size === 0) return { ok: false, why: "the trust bundle is empty" };
    const leafProblem = validityProblem(leaf, now);
    if (leafProblem !== undefined) return { ok: false, why: leafProblem };

    const path = [leaf];
    let current = leaf;
    for (let depth = 0; depth <= MAX_CHAIN_DEPTH; depth++) {
      // A trust anchor that signed `current` ends the walk. Several roots may share a subject
      // (old and new root during rotation), so try each by signature.
      for (const [fp, root] of this.#roots) {
        if (!sameName(root.subjectName, current.issuerName)) continue;
        if (!(await isSignedBy(current, root))) continue;
        const rootProblem = validityProblem(root, now) ?? pathLenProblem(root, path.length - 1);
        if (rootProblem !== undefined) return { ok: false, why: `trust anchor ${rootProblem}` };
        path.push(root);
        return { ok: true, path, rootFingerprint: fp };
      }
      const seen = new Set(path.map(fingerprint));
      let issuer: x509.X509Certificate | undefined;
      for (const candidate of intermediates) {
        if (seen.has(fingerprint(candidate))) continue;
        if (!sameName(candidate.subjectName, current.issuerName)) continue;
        if (await isSignedBy(current, candidate)) {
          issuer = candidate;
          break;
        }
      }
      if (issuer === undefined) {
        return {
          ok: false,
          why:
            `no certificate in the chain or the trust bundle signed ${describeCert(current)} ` +
            `(issuer "${current.issuer}"); the bundle holds ${this.#roots.size} root(s)`,
        };
      }
      if (!isCa(issuer) || !mayIssueCertificates(issuer)) {
        return { ok: false, why: `${describeCert(issuer)} signed ${describeCert(current)} but is not a CA` };
      }
      const problem = validityProblem(issuer, now) ?? pathLenProblem(issuer, path.length - 1);
      if (problem !== undefined) return { ok: false, why: problem };
      path.push(issuer);
      current = issuer;
    }
    return { ok: false, why: `chain longer than ${MAX_CHAIN_DEPTH} certificates` };
  }
}
