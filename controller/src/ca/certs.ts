// Small, shared facts about certificates: PEM blocks, fingerprints, CA-ness, SANs, and a short
// human description for error messages. Pure functions over parsed @peculiar/x509 objects.
import { createHash, randomBytes } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { SubjectAlternativeName } from "@peculiar/asn1-x509";
import { OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_SUBJECT_ALT_NAME, x509 } from "./x509.js";
import { toBuffer } from "./keys.js";

export const PEM_CERTIFICATE = "CERTIFICATE";
export const PEM_CERTIFICATE_REQUEST = "CERTIFICATE REQUEST";

export interface PemBlock {
  /** The label between BEGIN and END, e.g. "CERTIFICATE". */
  readonly type: string;
  readonly der: Buffer;
}

/** Splits text into its PEM blocks; text outside blocks is ignored. Never throws on garbage. */
export function pemBlocks(text: string): PemBlock[] {
  try {
    return x509.PemConverter.decodeWithHeaders(text).map((b) => ({ type: b.type, der: toBuffer(b.rawData) }));
  } catch {
    return [];
  }
}

/** Why a PEM bundle of certificates could not be read. */
export class CertificateParseError extends Error {}

/**
 * Parses every CERTIFICATE block in `pem`. Throws CertificateParseError naming the problem when
 * there is none, when a block has another label, or when a block is not a valid certificate.
 */
export function parseCertificates(pem: string): x509.X509Certificate[] {
  const blocks = pemBlocks(pem);
  if (blocks.length === 0) throw new CertificateParseError("contains no PEM block");
  return blocks.map((block, i) => {
    if (block.type !== PEM_CERTIFICATE) {
      throw new CertificateParseError(`PEM block ${i + 1} is "${block.type}", expected "${PEM_CERTIFICATE}"`);
    }
    try {
      return new x509.X509Certificate(block.der);
    } catch (err) {
      throw new CertificateParseError(
        `PEM block ${i + 1} is not a valid X.509 certificate (${(err as Error).message})`,
      );
    }
  });
}

/** Lowercase hex SHA-256 of the DER encoding: the identity of a certificate. */
export function fingerprint(cert: x509.X509Certificate): string {
  return createHash("sha256").update(toBuffer(cert.rawData)).digest("hex");
}

export function certPem(cert: x509.X509Certificate): string {
  return `${cert.toString("pem")}\n`;
}

/** True when BasicConstraints says CA:true. */
export function isCa(cert: x509.X509Certificate): boolean {
  const bc = cert.getExtension<x509.BasicConstraintsExtension>(OID_BASIC_CONSTRAINTS);
  return bc?.ca === true;
}

/** True unless a KeyUsage extension is present and lacks keyCertSign. */
export function mayIssueCertificates(cert: x509.X509Certificate): boolean {
  const ku = cert.getExtension<x509.KeyUsagesExtension>(OID_KEY_USAGE);
  return ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

export type SanType =
  "uri" | "dns" | "ip" | "email" | "otherName" | "dirName" | "registeredID" | "x400Address" | "ediPartyName";

export interface SanEntry {
  readonly type: SanType;
  readonly value: string;
}

/**
 * Every name in a DER subjectAltName extension value, whatever its type. Read from the raw ASN.1
 * on purpose: @peculiar/x509's GeneralNames silently drops types it cannot render (otherName,
 * x400Address, ediPartyName), and a CA that does not see a name cannot refuse it.
 * Throws when the value is not a GeneralNames sequence.
 */
export function sanEntries(extensionValue: ArrayBuffer): SanEntry[] {
  const names = AsnConvert.parse(extensionValue, SubjectAlternativeName);
  return names.map((n): SanEntry => {
    if (n.uniformResourceIdentifier !== undefined) return { type: "uri", value: n.uniformResourceIdentifier };
    if (n.dNSName !== undefined) return { type: "dns", value: n.dNSName };
    if (n.iPAddress !== undefined) return { type: "ip", value: String(n.iPAddress) };
    if (n.rfc822Name !== undefined) return { type: "email", value: n.rfc822Name };
    if (n.otherName !== undefined) return { type: "otherName", value: n.otherName.typeId };
    if (n.directoryName !== undefined) return { type: "dirName", value: "<directory name>" };
    if (n.registeredID !== undefined) return { type: "registeredID", value: n.registeredID };
    if (n.x400Address !== undefined) return { type: "x400Address", value: "<x400 address>" };
    return { type: "ediPartyName", value: "<EDI party name>" };
  });
}

/** All SANs of a certificate (every subjectAltName extension), in order. */
export function certificateSans(cert: x509.X509Certificate): SanEntry[] {
  // Array.from: the library's Extensions subclass would otherwise leak out of filter/flatMap.
  return Array.from(cert.extensions)
    .filter((e) => e.type === OID_SUBJECT_ALT_NAME)
    .flatMap((e) => sanEntries(e.value));
}

/** URI SANs of a certificate, in order. */
export function uriSans(cert: x509.X509Certificate): string[] {
  return certificateSans(cert)
    .filter((n) => n.type === "uri")
    .map((n) => n.value);
}

/** Short description for messages: subject (or first URI SAN when the subject is empty) and serial. */
export function describeCert(cert: x509.X509Certificate): string {
  const name = cert.subject !== "" ? cert.subject : (uriSans(cert)[0] ?? "<empty subject>");
  return `"${name}" (serial ${cert.serialNumber})`;
}

/** Whether `now` lies within the certificate's validity window (inclusive). */
export function validityProblem(cert: x509.X509Certificate, now: Date): string | undefined {
  if (now.getTime() < cert.notBefore.getTime()) {
    return `${describeCert(cert)} is not valid before ${cert.notBefore.toISOString()}`;
  }
  if (now.getTime() > cert.notAfter.getTime()) {
    return `${describeCert(cert)} expired at ${cert.notAfter.toISOString()}`;
  }
  return undefined;
}

/** Verifies that `issuer`'s key signed `cert` (signature only; no dates). Never throws. */
export async function isSignedBy(cert: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  try {
    return await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

/** Names compared by their canonical string form (RFC 4514 as rendered by the library). */
export function sameName(a: x509.Name, b: x509.Name): boolean {
  return a.toString() === b.toString();
}

/**
 * A random, positive 16-byte serial as hex. The top bit is cleared (positive INTEGER) and the
 * next one set, so the encoding is always exactly 16 bytes and minimal DER: 126 random bits.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString("hex");
}

/**
 * BasicConstraints pathLenConstraint check: `casBelow` is how many CA certificates sit between
 * `issuer` and the leaf. Returns a problem, or undefined when allowed.
 */
export function pathLenProblem(issuer: x509.X509Certificate, casBelow: number): string | undefined {
  const bc = issuer.getExtension<x509.BasicConstraintsExtension>(OID_BASIC_CONSTRAINTS);
  const limit = bc?.pathLength;
  if (limit === undefined || casBelow <= limit) return undefined;
  return `${describeCert(issuer)} allows ${limit} CA certificate(s) below it (pathLenConstraint) but the chain has ${casBelow}`;
}
