// Key handling for the CA: generation, PEM import/export, and the one place that maps a key type
// to the signature algorithm the CA signs with. Node's KeyObject parses every private-key PEM an
// operator may hand us (PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY" as cert-manager writes by
// default, PKCS#1 "RSA PRIVATE KEY"); WebCrypto alone only imports PKCS#8.
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { crypto, type CryptoKey, type CryptoKeyPair, type SignatureAlgorithm } from "./x509.js";
import type { webcrypto } from "node:crypto";

/** ECDSA P-256 with SHA-256: the algorithm weft generates and signs with (DESIGN §5). */
export const EC_P256: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = {
  name: "ECDSA",
  namedCurve: "P-256",
  hash: "SHA-256",
};

/** A public key's kind, as far as the CA's policy cares. */
export type KeyDescription =
  { kind: "ec"; curve: string } | { kind: "rsa"; bits: number } | { kind: "other"; type: string };

/** A CA private key ready to sign, with the WebCrypto algorithm matching its type. */
export interface SigningKey {
  readonly privateKey: CryptoKey;
  /** Signature algorithm for certificates signed by this key (hash chosen by key type). */
  readonly signingAlgorithm: SignatureAlgorithm;
  /** DER SubjectPublicKeyInfo of the matching public key, to compare against a certificate. */
  readonly spkiDer: Buffer;
  readonly description: KeyDescription;
}

/** Why a private key could not be used, worded for the operator. */
export class KeyImportError extends Error {}

const CURVE_NAMES: Readonly<Record<string, string>> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521",
};

export function describeKeyObject(key: KeyObject): KeyDescription {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec") {
    const curve = details.namedCurve ?? "unknown";
    return { kind: "ec", curve: CURVE_NAMES[curve] ?? curve };
  }
  if (key.asymmetricKeyType === "rsa") return { kind: "rsa", bits: details.modulusLength ?? 0 };
  return { kind: "other", type: key.asymmetricKeyType ?? "unknown" };
}

/** Describes a DER SubjectPublicKeyInfo (e.g. a CSR's or certificate's key). Throws if unparsable. */
export function describeSpki(spkiDer: ArrayBuffer | ArrayBufferView): KeyDescription {
  return describeKeyObject(createPublicKey({ key: toBuffer(spkiDer), format: "der", type: "spki" }));
}

export function keyDescriptionText(d: KeyDescription): string {
  switch (d.kind) {
    case "ec":
      return `ECDSA ${d.curve}`;
    case "rsa":
      return `RSA ${d.bits}-bit`;
    case "other":
      return d.type;
  }
}

/** Generates a fresh, extractable ECDSA P-256 key pair. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
}

/** Exports a WebCrypto private key as PKCS#8 PEM. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", key));
  return toPem(der, "PRIVATE KEY");
}

/**
 * Imports a CA private key PEM. Accepts ECDSA P-256/P-384 and RSA ≥ 2048 bits so that an
 * operator-provided (e.g. cert-manager) CA works; weft's own keys are always P-256.
 */
export function importSigningKeyPem(pem: string): SigningKey {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (err) {
    throw new KeyImportError(`not a readable private key PEM (${(err as Error).message})`);
  }
  const description = describeKeyObject(keyObject);
  const spkiDer = createPublicKey(keyObject).export({ type: "spki", format: "der" });
  switch (description.kind) {
    case "ec": {
      const hash =
        description.curve === "P-256" ? "SHA-256" : description.curve === "P-384" ? "SHA-384" : undefined;
      if (hash === undefined) {
        throw new KeyImportError(`ECDSA curve ${description.curve} is not supported; use P-256 or P-384`);
      }
      const privateKey = keyObject.toCryptoKey({ name: "ECDSA", namedCurve: description.curve }, false, [
        "sign",
      ]);
      return { privateKey, signingAlgorithm: { name: "ECDSA", hash }, spkiDer, description };
    }
    case "rsa": {
      if (description.bits < 2048) {
        throw new KeyImportError(`RSA key of ${description.bits} bits is too small; use at least 2048 bits`);
      }
      const algorithm: webcrypto.RsaHashedImportParams = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
      const privateKey = keyObject.toCryptoKey(algorithm, false, ["sign"]);
      return { privateKey, signingAlgorithm: algorithm, spkiDer, description };
    }
    case "other":
      throw new KeyImportError(`${description.type} keys are not supported; use ECDSA P-256`);
  }
}

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export function toBuffer(data: ArrayBuffer | ArrayBufferView): Buffer {
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
