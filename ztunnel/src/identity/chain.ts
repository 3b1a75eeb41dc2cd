// Checking what a CA handed back before anything uses it. A certificate that names another
// identity, carries another key or has already expired would turn into handshake failures on
// every connection, far from the cause; refusing it here names the cause once.
import { X509Certificate } from "node:crypto";
import { weftError, type WeftError } from "@weft/core";
import { spiffeIdentityOf } from "../tls/san.js";

/** A verified CA response, split into what this side presents and what it trusts. */
export interface IssuedCertificate {
  readonly identity: string;
  /** The leaf's serial number, hex as Node prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The leaf, then intermediates (PEM, one certificate each): the chain presented to peers. */
  readonly certChainPem: readonly string[];
  /** The root(s) the response ends with (PEM, one certificate each). */
  readonly roots: readonly string[];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The certificate PEM blocks in `text`, each normalised to end with a newline. */
export function certificateBlocks(text: string): string[] {
  return [...text.matchAll(PEM_CERTIFICATE)].map((m) => `${m[0]}\n`);
}

function refused(identity: string, reason: string, fix: string): WeftError {
  return weftError(
    "WEFT_E_TLS",
    `the certificate issued for ${identity} is unusable: ${reason}`,
    { identity },
    { fix },
  );
}

const FIX_WRONG_CA =
  "check that the CA address points at weft's controller (or an Istio-compatible CA) and report the CA's behaviour";

/**
 * Verifies a CreateCertificate response (`chain`: leaf first, root last; the last entry may hold
 * several roots, as Istio's CA sends during a root rotation): the leaf's only URI SAN is
 * `identity`, its public key is `publicKeyDer` (the CSR's), it is not a CA, it has not expired at
 * `now`, and each certificate is signed by the next up to a self-signed root. Throws WEFT_E_TLS
 * (WEFT_E_PROTOCOL for a response that is not a chain at all) naming what is wrong.
 */
export function inspectIssuedChain(
  identity: string,
  chain: readonly string[],
  publicKeyDer: Buffer,
  now: Date,
): IssuedCertificate {
  if (chain.length < 2) {
    throw weftError(
      "WEFT_E_PROTOCOL",
      `the CA answered the request for ${identity} with ${chain.length} certificate(s); expected the leaf first and the root last`,
      { identity },
      { fix: FIX_WRONG_CA },
    );
  }
  const presented = chain.slice(0, -1).flatMap(certificateBlocks);
  const roots = certificateBlocks(chain.at(-1) ?? "");
  if (presented.length === 0 || roots.length === 0 || presented.length !== chain.length - 1) {
    throw weftError(
      "WEFT_E_PROTOCOL",
      `the CA's response for ${identity} holds an entry that is not one PEM certificate`,
      { identity },
      { fix: FIX_WRONG_CA },
    );
  }
  let parsedChain: X509Certificate[];
  let parsedRoots: X509Certificate[];
  try {
    parsedChain = presented.map((pem) => new X509Certificate(pem));
    parsedRoots = roots.map((pem) => new X509Certificate(pem));
  } catch (err) {
    throw refused(identity, `a certificate does not parse (${(err as Error).message})`, FIX_WRONG_CA);
  }
  const leaf = parsedChain[0]!;

  const san = spiffeIdentityOf(leaf.subjectAltName);
  if (!san.ok) throw refused(identity, san.reason, FIX_WRONG_CA);
  if (san.uri !== identity) {
    throw refused(identity, `the leaf names ${san.uri}`, FIX_WRONG_CA);
  }
  if (leaf.ca) throw refused(identity, "the leaf is a CA certificate", FIX_WRONG_CA);
  const leafKey = leaf.publicKey.export({ type: "spki", format: "der" });
  if (!leafKey.equals(publicKeyDer)) {
    throw refused(identity, "the leaf's public key is not the key of our CSR", FIX_WRONG_CA);
  }
  if (leaf.validToDate.getTime() <= now.getTime()) {
    throw refused(
      identity,
      `the leaf expired at ${leaf.validToDate.toISOString()} (now ${now.toISOString()})`,
      "check the clocks of this node and the CA's node (NTP), and the CA's workload certificate TTL",
    );
  }

  for (let i = 0; i < parsedChain.length; i++) {
    const cert = parsedChain[i]!;
    const next = parsedChain[i + 1];
    const signedByNext =
      next !== undefined
        ? cert.checkIssued(next) && cert.verify(next.publicKey)
        : parsedRoots.some((root) => cert.checkIssued(root) && cert.verify(root.publicKey));
    if (!signedByNext) {
      throw refused(
        identity,
        `certificate ${i} of the chain (${cert.subject || "empty subject"}) is not signed by the next one`,
        FIX_WRONG_CA,
      );
    }
  }
  for (const root of parsedRoots) {
    if (!(root.checkIssued(root) && root.verify(root.publicKey))) {
      throw refused(
        identity,
        `the last certificate (${root.subject}) is not a self-signed root`,
        FIX_WRONG_CA,
      );
    }
  }

  return {
    identity,
    serial: leaf.serialNumber,
    notBefore: leaf.validFromDate,
    notAfter: leaf.validToDate,
    certChainPem: presented,
    roots,
  };
}
