// IP addresses as the 16-byte form every weft map uses (bpf/include/maps.h): network byte order,
// IPv4 stored v4-mapped (::ffff:a.b.c.d). Hand-written because Node exposes no inet_pton/ntop to
// JavaScript, and this package may import only core.
import { isIPv4, isIPv6 } from "node:net";
import { weftError } from "@weft/core";

export const ADDR_LEN = 16;
const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const;

function parseV4(text: string, out: Buffer, offset: number): void {
  const parts = text.split(".");
  for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
}

/** Write `address` (IPv4 or IPv6 text) into `out` at `offset` as 16 bytes. */
export function writeAddr(address: string, out: Buffer, offset = 0): void {
  if (isIPv4(address)) {
    out.fill(0, offset, offset + 10);
    out[offset + 10] = 0xff;
    out[offset + 11] = 0xff;
    parseV4(address, out, offset + 12);
    return;
  }
  const zone = address.indexOf("%");
  const text = zone >= 0 ? address.slice(0, zone) : address;
  if (!isIPv6(text)) {
    throw weftError("WEFT_E_INVALID_INPUT", `'${address}' is not an IPv4 or IPv6 address`);
  }
  // Expand "::" and a trailing embedded IPv4 into 8 groups of 16 bits.
  let tail4: Buffer | undefined;
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tail4 = Buffer.alloc(4);
    parseV4(text.slice(lastColon + 1), tail4, 0);
    body = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head = "", rest] = body.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const restGroups = rest === undefined || rest === "" ? [] : rest.split(":");
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill("0"), ...restGroups];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] ?? "0", 16), offset + i * 2);
  if (tail4 !== undefined) tail4.copy(out, offset + 12);
}

/** The 16-byte form of `address`. */
export function encodeAddr(address: string): Buffer {
  const out = Buffer.alloc(ADDR_LEN);
  writeAddr(address, out);
  return out;
}

/** Is the 16-byte address at `offset` v4-mapped? */
export function isV4Mapped(buf: Buffer, offset = 0): boolean {
  for (let i = 0; i < V4_MAPPED_PREFIX.length; i++) {
    if (buf[offset + i] !== V4_MAPPED_PREFIX[i]) return false;
  }
  return true;
}

/**
 * Text of the 16-byte address at `offset`. `family` 4 gives dotted IPv4 for a v4-mapped address;
 * 6 (default) gives IPv6 text, where v4-mapped reads "::ffff:a.b.c.d" as Node prints it.
 */
export function readAddr(buf: Buffer, offset = 0, family: 4 | 6 = 6): string {
  const mapped = isV4Mapped(buf, offset);
  const v4 = `${buf[offset + 12]}.${buf[offset + 13]}.${buf[offset + 14]}.${buf[offset + 15]}`;
  if (mapped) return family === 4 ? v4 : `::ffff:${v4}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + i * 2));
  // RFC 5952: compress the longest run (of 2 or more) of zero groups.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Address text a socket of `family` would report (v4 for IPv4, IPv6 text otherwise). */
export function addrFamily(address: string): 4 | 6 {
  if (isIPv4(address)) return 4;
  if (isIPv6(address.split("%")[0] ?? "")) return 6;
  throw weftError("WEFT_E_INVALID_INPUT", `'${address}' is not an IPv4 or IPv6 address`);
}
