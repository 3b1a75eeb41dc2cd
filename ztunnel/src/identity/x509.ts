// The one import of @peculiar/x509 in ztunnel: it resolves its ASN.1 formatters through tsyringe,
// which needs the Reflect metadata polyfill loaded first, and signs through a WebCrypto provider
// that must be set once. Everything in ztunnel that builds X.509 objects imports it from here.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

export { x509 };

/** ECDSA P-256 with SHA-256: fast handshakes (DESIGN §5). */
export const EC_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export function pemEncode(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
}
