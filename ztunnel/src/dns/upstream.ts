// Where forwarded queries go: parsing of resolv.conf and of `ip[:port]` upstream lists. Pure, so
// config.ts (which reads the file and the environment) stays the only place with inputs.
import { isIP } from "node:net";
import { weftError } from "@weft/core";

export interface Upstream {
  readonly address: string;
  readonly port: number;
}

export interface ResolvConf {
  readonly nameservers: readonly Upstream[];
  readonly search: readonly string[];
}

export const DNS_PORT = 53;

/** glibc's fallback when resolv.conf names no server: the local host. */
export const RESOLV_CONF_FALLBACK: readonly Upstream[] = Object.freeze([
  { address: "127.0.0.1", port: DNS_PORT },
]);

/**
 * The `nameserver` and `search` lines of a resolv.conf (resolv.conf(5)); anything else is ignored,
 * as are nameservers that are not IP literals (glibc ignores them too). A scoped IPv6 address
 * (`fe80::1%eth0`) keeps its scope.
 */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: Upstream[] = [];
  let search: string[] = [];
  for (const rawLine of text.split("\n")) {
    const line = rawLine.replace(/[#;].*$/, "").trim();
    const [keyword, ...values] = line.split(/\s+/);
    if (keyword === "nameserver" && values[0] !== undefined) {
      const address = values[0];
      if (isIP(address.split("%")[0] ?? "") !== 0) nameservers.push({ address, port: DNS_PORT });
    } else if (keyword === "search" || keyword === "domain") {
      // The last search/domain line wins (resolv.conf(5)).
      search = values.filter((v) => v.length > 0);
    }
  }
  return { nameservers, search };
}

/** `1.2.3.4`, `1.2.3.4:5353`, `fd00::1`, `[fd00::1]:5353` → an Upstream; throws WEFT_E_CONFIG. */
export function parseUpstream(text: string): Upstream {
  const bad = (): never => {
    throw weftError("WEFT_E_CONFIG", `DNS upstream ${JSON.stringify(text)} is not ip[:port]`, undefined, {
      fix: "write upstreams as 10.96.0.10, 10.96.0.10:53 or [fd00::10]:53, separated by commas",
    });
  };
  const s = text.trim();
  let address = s;
  let port = DNS_PORT;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracketed !== null) {
    address = bracketed[1] ?? "";
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (isIP(s) === 0) {
    const colon = s.lastIndexOf(":");
    if (colon <= 0) return bad();
    address = s.slice(0, colon);
    port = Number(s.slice(colon + 1));
    if (!/^\d+$/.test(s.slice(colon + 1))) return bad();
  }
  if (isIP(address) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) return bad();
  return { address, port };
}
