// IP text handling. Parsing and CIDR containment lean on Node's own `net.isIP` / `net.BlockList`
// and the WHATWG URL host serializer (RFC 5952 compression); only the IPv4-mapped unmapping is ours.
import { BlockList, isIP } from "node:net";

const MAPPED_V4_DOTTED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;
const MAPPED_V4_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * The canonical text of an IP address, or undefined when `text` is not one. IPv6 is lowercased and
 * compressed (RFC 5952); IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4, because the kernel
 * reports an IPv4 peer of a dual-stack socket that way and the store indexes it as IPv4. Zone ids
 * (`fe80::1%eth0`) are rejected: they are not meaningful across hosts.
 */
export function canonicalIp(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6 || text.includes("%")) return undefined;
  const lower = text.toLowerCase();
  const dotted = MAPPED_V4_DOTTED.exec(lower);
  if (dotted?.[1] !== undefined) return isIP(dotted[1]) === 4 ? dotted[1] : undefined;
  const host = new URL(`http://[${lower}]/`).hostname;
  const v6 = host.slice(1, -1);
  const hex = MAPPED_V4_HEX.exec(v6);
  if (hex?.[1] !== undefined && hex[2] !== undefined) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return v6;
}

export function ipFamily(canonical: string): 4 | 6 {
  return canonical.includes(":") ? 6 : 4;
}

/** `ip:port`, with IPv6 bracketed (`[::1]:80`), as HTTP authorities and socket addresses are written. */
export function formatSocketAddress(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Index key of an address on a network. */
export function networkAddressKey(network: string, canonical: string): string {
  return `${network}/${canonical}`;
}

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Parse `a.b.c.d/n`, `x::/n` or a bare IP (a host route). Undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const ipText = slash === -1 ? text : text.slice(0, slash);
  const address = canonicalIp(ipText);
  if (address === undefined) return undefined;
  const family = ipFamily(address);
  const max = family === 4 ? 32 : 128;
  if (slash === -1) return { address, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family };
}

/** A compiled set of CIDRs answering "is this canonical IP inside any of them". */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly Cidr[]) {
    for (const c of cidrs) this.list.addSubnet(c.address, c.prefix, c.family === 4 ? "ipv4" : "ipv6");
    this.size = cidrs.length;
  }

  contains(canonical: string): boolean {
    return this.list.check(canonical, canonical.includes(":") ? "ipv6" : "ipv4");
  }
}
