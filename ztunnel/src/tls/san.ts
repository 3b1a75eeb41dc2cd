// Subject alternative names as Node renders them (X509Certificate.subjectAltName and the legacy
// peer-certificate object's `subjectaltname`, which share one printer), and the SPIFFE identity a
// mesh certificate carries.
//
// Why parse Node's string instead of the ASN.1: the string is what the TLS stack already built for
// the peer, so reading it costs no second DER parse on the handshake path, and Node's printer shows
// every GeneralName type (otherName included — @peculiar/x509 silently drops otherName, so a check
// built on it cannot see a smuggled name). The format since Node 17.3 (CVE-2021-44532):
//   entries joined by ", "; each entry is `<Type>:<value>` where Type is one of "DNS", "URI",
//   "email", "IP Address", "DirName", "Registered ID", "othername", ...; a value that contains a
//   comma, quote, backslash or other unsafe character is printed as a JSON string literal, so a
//   comma can never appear unquoted and ", " outside quotes always separates entries.
// A certificate is a mesh identity only when it has exactly ONE URI SAN and that URI is a SPIFFE
// id: two URI SANs make "which identity is this?" ambiguous, and ambiguity is refused.
import { parseIdentity, type Identity } from "@weft/state";

export interface SanEntry {
  /** Node's type label, e.g. "URI", "DNS", "IP Address", "othername". */
  readonly type: string;
  readonly value: string;
}

/**
 * Splits Node's subjectAltName rendering into entries. Returns undefined when the text does not
 * follow the format (unterminated quote, entry without a type): the caller must treat that as "no
 * usable identity", never guess.
 */
export function parseSubjectAltName(text: string): SanEntry[] | undefined {
  const out: SanEntry[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon <= i) return undefined;
    const type = text.slice(i, colon);
    if (type.includes(",") || type.includes('"')) return undefined;
    let value: string;
    let next: number;
    if (text.charCodeAt(colon + 1) === 0x22 /* " */) {
      const end = closingQuote(text, colon + 2);
      if (end < 0) return undefined;
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      } catch {
        return undefined;
      }
      next = end + 1;
    } else {
      const sep = text.indexOf(", ", colon + 1);
      next = sep < 0 ? text.length : sep;
      value = text.slice(colon + 1, next);
    }
    out.push({ type, value });
    if (next === text.length) break;
    if (!text.startsWith(", ", next)) return undefined;
    i = next + 2;
    if (i === text.length) return undefined;
  }
  return out;
}

/** Index of the quote closing a JSON string whose body starts at `from`; -1 when unterminated. */
function closingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22) return i;
  }
  return -1;
}

export type PeerIdentityResult =
  | { readonly ok: true; readonly uri: string; readonly identity: Identity }
  | { readonly ok: false; readonly reason: string };

/**
 * The SPIFFE identity of a certificate from its SAN rendering: exactly one URI SAN, of the form
 * spiffe://<td>/ns/<ns>/sa/<sa>. Other SAN types (DNS, IP) are tolerated, as Istio does.
 */
export function spiffeIdentityOf(subjectAltName: string | undefined): PeerIdentityResult {
  if (subjectAltName === undefined || subjectAltName === "") {
    return { ok: false, reason: "the certificate has no subjectAltName" };
  }
  const entries = parseSubjectAltName(subjectAltName);
  if (entries === undefined) {
    return { ok: false, reason: `unparseable subjectAltName ${JSON.stringify(subjectAltName)}` };
  }
  let uri: string | undefined;
  for (const e of entries) {
    if (e.type !== "URI") continue;
    if (uri !== undefined) return { ok: false, reason: "the certificate has more than one URI SAN" };
    uri = e.value;
  }
  if (uri === undefined) return { ok: false, reason: "the certificate has no URI SAN" };
  const identity = parseIdentity(uri);
  if (identity === undefined) {
    return {
      ok: false,
      reason: `URI SAN ${JSON.stringify(uri)} is not a SPIFFE id spiffe://<td>/ns/<ns>/sa/<sa>`,
    };
  }
  return { ok: true, uri, identity };
}
