// A fresh key pair and PKCS#10 CSR per certificate request (DESIGN §5). A new key every time, as
// Istio's ztunnel does: a refresh also rotates the key, so a leaked key is only as useful as the
// certificate it came with.
import { webcrypto } from "node:crypto";
import { weftError } from "@weft/core";
import { parseIdentity } from "@weft/state";
import { EC_P256, pemEncode, x509 } from "./x509.js";

export interface KeyAndCsr {
  /** The private key, PKCS#8 PEM: what the TLS context is built from. */
  readonly keyPem: string;
  /** The PKCS#10 request, PEM: what the CA signs. */
  readonly csrPem: string;
}

/**
 * Generates an ECDSA P-256 key pair and a CSR whose only SAN is the SPIFFE URI `identity`. The
 * subject is left empty: the CA refuses any SAN but the granted identity (controller
 * `checkCsrSans`) and ignores the subject, so anything more would only risk a refusal.
 */
export async function generateKeyAndCsr(identity: string): Promise<KeyAndCsr> {
  if (parseIdentity(identity) === undefined) {
    throw weftError(
      "WEFT_E_INVALID_INPUT",
      `cannot request a certificate for ${JSON.stringify(identity)}: not a SPIFFE id`,
      { identity },
      { fix: "pass spiffe://<trust domain>/ns/<namespace>/sa/<service account>" },
    );
  }
  // Extractable so the private key can be exported once, as PKCS#8, for the TLS stack.
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: EC_P256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: identity }])],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { keyPem: pemEncode("PRIVATE KEY", pkcs8), csrPem: csr.toString("pem") };
}

/** The SubjectPublicKeyInfo (DER) a CSR carries: what the issued leaf's key must equal. */
export function csrPublicKeyDer(csrPem: string): Buffer {
  try {
    return Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData);
  } catch (err) {
    throw weftError("WEFT_E_INVALID_INPUT", `the CSR does not parse (${(err as Error).message})`, undefined, {
      cause: err,
      fix: "pass the PEM produced by generateKeyAndCsr",
    });
  }
}
