// The one place that loads @peculiar/x509. The library resolves its ASN.1 formatters through
// tsyringe, which needs a Reflect metadata polyfill loaded before it; and it signs through a
// WebCrypto provider that must be set once. Every CA module imports x509 from here so both
// happen before first use, whatever the import order of the caller.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

export { x509 };

/** Node's WebCrypto: the provider every CA operation uses. */
export const crypto = webcrypto;

// The project compiles without the DOM lib, so name Node's WebCrypto types here once.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type SignatureAlgorithm =
  webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm;

export const OID_SUBJECT_ALT_NAME = "2.5.29.17";
export const OID_BASIC_CONSTRAINTS = "2.5.29.19";
export const OID_KEY_USAGE = "2.5.29.15";
export const OID_SUBJECT_KEY_ID = "2.5.29.14";
export const OID_AUTHORITY_KEY_ID = "2.5.29.35";
export const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
