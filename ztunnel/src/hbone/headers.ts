// The few headers HBONE carries besides :method and :authority, and parsing :authority itself.
import { canonicalIp } from "@weft/state";

export interface SocketTarget {
  /** Canonical IP (IPv6 compressed, lowercase). */
  readonly ip: string;
  readonly port: number;
}

/**
 * Parses a CONNECT `:authority` of the form `ip:port` or `[ipv6]:port`. Host names are refused:
 * HBONE addresses workloads and services by IP. Returns undefined when unparseable.
 */
export function parseAuthority(authority: string | undefined): SocketTarget | undefined {
  if (authority === undefined) return undefined;
  let host: string;
  let portText: string;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0 || authority.charCodeAt(close + 1) !== 0x3a /* : */) return undefined;
    host = authority.slice(1, close);
    if (!host.includes(":")) return undefined;
    portText = authority.slice(close + 2);
  } else {
    const colon = authority.lastIndexOf(":");
    if (colon <= 0) return undefined;
    host = authority.slice(0, colon);
    if (host.includes(":")) return undefined; // bare IPv6 without brackets is ambiguous
    portText = authority.slice(colon + 1);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  const ip = canonicalIp(host);
  return ip === undefined ? undefined : { ip, port };
}

/** Formats an authority as parseAuthority accepts it. */
export function formatAuthority(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** RFC 7239 `Forwarded: for=<ip>` naming the original client, as Istio's ztunnel sends it. */
export function forwardedFor(ip: string): string {
  return ip.includes(":") ? `for="[${ip}]"` : `for=${ip}`;
}

/**
 * The original source IP from a Forwarded header: the `for` parameter of the first element.
 * Ports and obfuscated identifiers ("_hidden", "unknown") give undefined.
 */
export function parseForwardedFor(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const first = text.split(",", 1)[0] ?? "";
  for (const pair of first.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== "for") continue;
    let v = pair.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    if (v.startsWith("[")) {
      const close = v.indexOf("]");
      if (close < 0) return undefined;
      v = v.slice(1, close);
    } else if (v.split(":").length === 2) {
      v = v.slice(0, v.indexOf(":")); // ipv4:port
    }
    return canonicalIp(v);
  }
  return undefined;
}
