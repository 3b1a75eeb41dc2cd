// Turning a workload's PKCS#10 CSR into a short-lived SPIFFE leaf certificate. The caller's
// identity was decided by authentication + authorization before we get here; the CSR only
// contributes its public key, and its SANs must name exactly that identity.
import {
  PEM_CERTIFICATE_REQUEST,
  certPem,
  pemBlocks,
  randomSerial,
  sanEntries,
  type SanEntry,
} from "./certs.js";
import { caError } from "./errors.js";
import {
  describeSpki,
  exportPrivateKeyPem,
  generateKeyPair,
  keyDescriptionText,
  type KeyDescription,
} from "./keys.js";
import type { SigningAuthority } from "./root.js";
import { OID_CLIENT_AUTH, OID_SERVER_AUTH, OID_SUBJECT_ALT_NAME, x509 } from "./x509.js";

export const DEFAULT_TTL_SECONDS = 24 * 3600;
/** Istio's MAX_WORKLOAD_CERT_TTL default: requests for longer are capped, not refused. */
export const DEFAULT_MAX_TTL_SECONDS = 90 * 24 * 3600;
/** Backdating notBefore absorbs clock skew between the CA and the peers that verify the cert. */
export const CLOCK_SKEW_MS = 60_000;
/** Refuse CSRs larger than this before parsing: a real one is under 1 KiB. */
const MAX_CSR_BYTES = 64 * 1024;

export interface SignCsrRequest {
  readonly csrPem: string;
  /** The SPIFFE URI the caller is allowed to hold. The CSR's SANs must be exactly this. */
  readonly identity: string;
  /** Requested lifetime; undefined or 0 means the default. */
  readonly ttlSeconds?: number;
  readonly defaultTtlSeconds?: number;
  readonly maxTtlSeconds?: number;
  readonly now?: Date;
}

export interface SignedCertificate {
  /** PEM certificates: the leaf first, then intermediates, the root last. */
  readonly certChain: string[];
  readonly leaf: x509.X509Certificate;
}

/** Acceptable CSR keys: what Istio's workloads and the TLS stacks we serve negotiate well. */
function keyProblem(key: KeyDescription): string | undefined {
  switch (key.kind) {
    case "ec":
      return key.curve === "P-256" || key.curve === "P-384" ? undefined : `ECDSA curve ${key.curve}`;
    case "rsa":
      return key.bits >= 2048 ? undefined : `RSA key of ${key.bits} bits (minimum 2048)`;
    case "other":
      return `${key.type} key`;
  }
}

/**
 * Parses and checks a PKCS#10 CSR: one PEM "CERTIFICATE REQUEST" block, well-formed DER, an
 * acceptable key (ECDSA P-256/P-384, RSA ≥ 2048) and a valid self-signature (proof that the
 * requester holds the private key). Throws WEFT_E_CA_BAD_CSR saying what is wrong.
 */
export async function parseCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  if (csrPem.length > MAX_CSR_BYTES) {
    throw caError(
      "WEFT_E_CA_BAD_CSR",
      `the CSR is ${csrPem.length} bytes, over the ${MAX_CSR_BYTES}-byte limit`,
      "csr_unparsable",
    );
  }
  const blocks = pemBlocks(csrPem);
  const block = blocks[0];
  if (block === undefined) {
    throw caError(
      "WEFT_E_CA_BAD_CSR",
      `the CSR is not PEM: expected a "-----BEGIN ${PEM_CERTIFICATE_REQUEST}-----" block`,
      "csr_unparsable",
    );
  }
  if (blocks.length > 1) {
    throw caError(
      "WEFT_E_CA_BAD_CSR",
      `the CSR holds ${blocks.length} PEM blocks; send exactly one ${PEM_CERTIFICATE_REQUEST}`,
      "csr_unparsable",
    );
  }
  if (block.type !== PEM_CERTIFICATE_REQUEST && block.type !== `NEW ${PEM_CERTIFICATE_REQUEST}`) {
    throw caError(
      "WEFT_E_CA_BAD_CSR",
      `the PEM block is a "${block.type}", not a "${PEM_CERTIFICATE_REQUEST}" — send a PKCS#10 CSR, not a certificate or key`,
      "csr_unparsable",
    );
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(block.der);
  } catch (err) {
    throw caError(
      "WEFT_E_CA_BAD_CSR",
      `the CSR's DER does not parse as PKCS#10 (${(err as Error).message})`,
      "csr_unparsable",
    );
  }
  let key: KeyDescription;
  try {
    key = describeSpki(csr.publicKey.rawData);
  } catch (err) {
    throw caError(
      "WEFT_E_CA_BAD_CSR",
      `the CSR's public key does not parse (${(err as Error).message})`,
      "csr_unparsable",
    );
  }
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw caError("WEFT_E_CA_BAD_CSR", `the CSR's key is ${problem}; use ECDSA P-256`, "csr_weak_key", {
      key: keyDescriptionText(key),
    });
  }
  let verified: boolean;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) {
    throw caError(
      "WEFT_E_CA_BAD_CSR",
      "the CSR's signature does not verify with its own public key — sign the CSR with the private key it carries",
      "csr_bad_signature",
    );
  }
  return csr;
}

/** The SANs a CSR requests, from its extensionRequest attribute. Throws BAD_CSR when unreadable. */
export function csrSans(csr: x509.Pkcs10CertificateRequest): SanEntry[] {
  const sans: SanEntry[] = [];
  for (const ext of csr.extensions) {
    if (ext.type !== OID_SUBJECT_ALT_NAME) continue;
    try {
      sans.push(...sanEntries(ext.value));
    } catch (err) {
      throw caError(
        "WEFT_E_CA_BAD_CSR",
        `the CSR's subjectAltName extension does not parse (${(err as Error).message})`,
        "csr_unparsable",
      );
    }
  }
  return sans;
}

/**
 * Every SAN in the CSR must be the URI `identity`, and there must be at least one: a CSR
 * that asks for anything else is asking for more than the caller was granted.
 */
export function checkCsrSans(csr: x509.Pkcs10CertificateRequest, identity: string): void {
  const sans = csrSans(csr);
  if (sans.length === 0) {
    throw caError(
      "WEFT_E_CA_BAD_CSR",
      `the CSR has no subjectAltName; put exactly the URI SAN ${identity} in it`,
      "csr_no_san",
    );
  }
  for (const san of sans) {
    if (san.type !== "uri" || san.value !== identity) {
      throw caError(
        "WEFT_E_CA_PERMISSION_DENIED",
        `the CSR requests SAN ${san.type}:${san.value}, ` +
          `but this caller may only hold URI:${identity} — remove every other SAN from the CSR`,
        "csr_san_refused",
        { refusedSan: `${san.type}:${san.value}` },
      );
    }
  }
}

/** The leaf's lifetime in seconds: requested (or default), capped at the maximum. */
export function effectiveTtlSeconds(
  requested: number | undefined,
  defaultTtl: number,
  maxTtl: number,
): number {
  if (
    requested !== undefined &&
    (!Number.isFinite(requested) || requested < 0 || !Number.isInteger(requested))
  ) {
    throw caError(
      "WEFT_E_INVALID_INPUT",
      `validity ${String(requested)}s is not a non-negative whole number of seconds; send 0 for the default`,
      "validity_invalid",
    );
  }
  const ttl = requested === undefined || requested === 0 ? defaultTtl : requested;
  return Math.min(ttl, maxTtl);
}

// AKI is the same for every leaf of one authority; compute it once.
const akiCache = new WeakMap<SigningAuthority, Promise<x509.AuthorityKeyIdentifierExtension>>();

function authorityKeyId(ca: SigningAuthority): Promise<x509.AuthorityKeyIdentifierExtension> {
  let aki = akiCache.get(ca);
  if (aki === undefined) {
    const ski = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
    aki =
      ski !== null
        ? Promise.resolve(new x509.AuthorityKeyIdentifierExtension(ski.keyId))
        : x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey);
    akiCache.set(ca, aki);
  }
  return aki;
}

/**
 * Signs a CSR for `identity`. The leaf has an empty subject (like Istio), a critical URI SAN
 * with the identity, CA:false, digitalSignature+keyEncipherment, serverAuth+clientAuth, a
 * random 16-byte serial, notBefore one minute back, and never outlives the signing CA.
 */
export async function signCsr(ca: SigningAuthority, req: SignCsrRequest): Promise<SignedCertificate> {
  const now = req.now ?? new Date();
  const ttl = effectiveTtlSeconds(
    req.ttlSeconds,
    req.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS,
    req.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS,
  );
  const csr = await parseCsr(req.csrPem);
  checkCsrSans(csr, req.identity);
  const notAfter = new Date(Math.min(now.getTime() + ttl * 1000, ca.cert.notAfter.getTime()));
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter,
    signingAlgorithm: ca.key.signingAlgorithm,
    publicKey: csr.publicKey,
    signingKey: ca.key.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([OID_SERVER_AUTH, OID_CLIENT_AUTH]),
      // Critical because the subject is empty (RFC 5280 §4.2.1.6).
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: req.identity }], true),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await authorityKeyId(ca),
    ],
  });
  return { certChain: [certPem(leaf), ...ca.issuerChainPem], leaf };
}

export interface ServingCertificateRequest {
  /** DNS names the server is reached by, e.g. weft-controller.weft-system.svc. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** The server's own SPIFFE identity, if peers check it. */
  readonly identity?: string;
  readonly ttlSeconds?: number;
  readonly now?: Date;
}

export interface ServingCertificate {
  /** Leaf first, root last. */
  readonly certChain: string[];
  readonly keyPem: string;
}

/**
 * A key and certificate for the controller's own listeners (CA/xDS on 15012, webhook on 15017).
 * Not reachable through createCertificate: DNS and IP SANs are issued only to the CA's own process.
 */
export async function issueServingCertificate(
  ca: SigningAuthority,
  req: ServingCertificateRequest,
): Promise<ServingCertificate> {
  const now = req.now ?? new Date();
  const ttl = req.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const keys = await generateKeyPair();
  const names = [
    ...(req.identity !== undefined ? [{ type: "url" as const, value: req.identity }] : []),
    ...req.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  if (names.length === 0) {
    throw caError(
      "WEFT_E_INVALID_INPUT",
      "a serving certificate needs at least one DNS name, IP or identity",
      "config",
    );
  }
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(Math.min(now.getTime() + ttl * 1000, ca.cert.notAfter.getTime())),
    signingAlgorithm: ca.key.signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: ca.key.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([OID_SERVER_AUTH, OID_CLIENT_AUTH]),
      new x509.SubjectAlternativeNameExtension(names, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await authorityKeyId(ca),
    ],
  });
  return {
    certChain: [certPem(leaf), ...ca.issuerChainPem],
    keyPem: await exportPrivateKeyPem(keys.privateKey),
  };
}
