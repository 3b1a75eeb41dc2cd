// What the DNS proxy answers for one question, as a pure function of the mesh snapshot (DESIGN §6:
// decisions are pure, I/O at the edges). Mesh Service hostnames are answered here with their VIPs;
// everything else is forwarded upstream unchanged.
//
// The names a client sends are what its resolver made of what the app asked: Kubernetes pods search
// `<ns>.svc.<domain> svc.<domain> <domain>` with ndots:5, so `echo` arrives as
// `echo.<ns>.svc.<domain>`, and even the FQDN `echo.shop.svc.cluster.local` arrives first as
// `echo.shop.svc.cluster.local.<ns>.svc.<domain>`. Like Istio's ztunnel (src/dns/server.rs) we
// recognise the short forms of a Service name and, for a known name with one of the client's search
// domains appended, answer a CNAME to the Service hostname plus its addresses, so the resolver stops
// at its first query instead of walking the search path through the upstream.
import { isIP } from "node:net";
import type { Service, Snapshot } from "@weft/state";

export interface DnsQuestion {
  /** As asked, with or without the trailing dot, any case. */
  readonly name: string;
  /** The record type's mnemonic ("A", "AAAA", "MX", …). */
  readonly type: string;
}

export interface DnsClient {
  /** The asking pod's namespace: resolves short names and orders the search domains. */
  readonly namespace: string;
  /** When set, only VIPs on this network are answered (Istio answers VIPs callable from the client). */
  readonly network?: string;
}

export interface ResolveOptions {
  /** The cluster domain, e.g. "cluster.local" (no leading or trailing dot). */
  readonly domainSuffix: string;
  /** TTL of the records we answer, in seconds. */
  readonly ttl: number;
}

export type DnsRecord =
  | { readonly type: "A" | "AAAA"; readonly name: string; readonly ttl: number; readonly address: string }
  | { readonly type: "CNAME"; readonly name: string; readonly ttl: number; readonly target: string };

export type DnsResolution =
  /** NOERROR with these records (CNAME first when the name was a search-path expansion). */
  | { readonly kind: "answer"; readonly records: readonly DnsRecord[] }
  /** NOERROR, no records: a mesh name without addresses of the asked family. */
  | { readonly kind: "nodata" }
  /** NXDOMAIN: a name that cannot exist (one label below a Service that has a VIP). */
  | { readonly kind: "nxdomain" }
  /** Not ours: send the query upstream as it is. */
  | { readonly kind: "forward" };

const FORWARD: DnsResolution = Object.freeze({ kind: "forward" });
const NODATA: DnsResolution = Object.freeze({ kind: "nodata" });
const NXDOMAIN: DnsResolution = Object.freeze({ kind: "nxdomain" });

/** Services that have at least one VIP, by lowercase hostname, sorted by namespace. */
type HostIndex = ReadonlyMap<string, readonly Service[]>;

// Snapshots are immutable, so the index is built once per snapshot and dropped with it.
const hostIndexes = new WeakMap<Snapshot, HostIndex>();

function hostIndex(snapshot: Snapshot): HostIndex {
  let index = hostIndexes.get(snapshot);
  if (index !== undefined) return index;
  const byHost = new Map<string, Service[]>();
  for (const service of snapshot.services.values()) {
    // Headless services (no VIP) are left to the upstream resolver, which knows their pods.
    if (service.vips.length === 0) continue;
    const host = trimDot(service.hostname.toLowerCase());
    const list = byHost.get(host);
    if (list === undefined) byHost.set(host, [service]);
    else list.push(service);
  }
  for (const list of byHost.values())
    list.sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0));
  index = byHost;
  hostIndexes.set(snapshot, index);
  return index;
}

function trimDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** The search path a Kubernetes pod in `namespace` uses (kubelet's ClusterFirst resolv.conf). */
export function kubernetesSearchDomains(namespace: string, domainSuffix: string): readonly string[] {
  return [`${namespace}.svc.${domainSuffix}`, `svc.${domainSuffix}`, domainSuffix];
}

/**
 * The Service hostnames `name` may stand for, most specific first: the name itself, then the
 * Kubernetes short forms `<svc>` (client's namespace), `<svc>.<ns>` and `<svc>.<ns>.svc`.
 */
function expansions(name: string, clientNamespace: string, domainSuffix: string): string[] {
  const out = [name];
  let dots = 0;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 0x2e) dots++;
  if (dots === 0) out.push(`${name}.${clientNamespace}.svc.${domainSuffix}`);
  else if (dots === 1) out.push(`${name}.svc.${domainSuffix}`);
  else if (dots === 2 && name.endsWith(".svc")) out.push(`${name}.${domainSuffix}`);
  return out;
}

/** The Service for `host`: the client's own namespace's if there is one, else the first by namespace. */
function pick(index: HostIndex, host: string, clientNamespace: string): Service | undefined {
  const services = index.get(host);
  if (services === undefined) return undefined;
  return services.find((s) => s.namespace === clientNamespace) ?? services[0];
}

function findService(
  index: HostIndex,
  name: string,
  client: DnsClient,
  domainSuffix: string,
): Service | undefined {
  for (const candidate of expansions(name, client.namespace, domainSuffix)) {
    const service = pick(index, candidate, client.namespace);
    if (service !== undefined) return service;
  }
  return undefined;
}

/** True when `name` is one non-underscore label below a Kubernetes Service that has a VIP. */
function isBelowVipService(index: HostIndex, name: string, domainSuffix: string): boolean {
  const dot = name.indexOf(".");
  if (dot <= 0 || name.charCodeAt(0) === 0x5f /* "_": SRV owner names exist for other types */) {
    return false;
  }
  const parent = name.slice(dot + 1);
  return parent.endsWith(`.svc.${domainSuffix}`) && index.has(parent);
}

function addressRecords(
  service: Service,
  type: "A" | "AAAA",
  owner: string,
  client: DnsClient,
  ttl: number,
  out: DnsRecord[],
): void {
  const family = type === "A" ? 4 : 6;
  for (const vip of service.vips) {
    if (client.network !== undefined && vip.network !== client.network) continue;
    if (isIP(vip.address) !== family) continue;
    out.push({ type, name: owner, ttl, address: vip.address });
  }
}

/**
 * Decide one question. Only A and AAAA of class IN are ever answered here; the caller forwards the
 * other types (including for mesh names, as Istio does) and classes.
 */
export function resolveDns(
  snapshot: Snapshot,
  question: DnsQuestion,
  client: DnsClient,
  options: ResolveOptions,
): DnsResolution {
  const type = question.type;
  if (type !== "A" && type !== "AAAA") return FORWARD;
  const asked = trimDot(question.name);
  if (asked.length === 0) return FORWARD;
  const name = asked.toLowerCase();
  const domainSuffix = options.domainSuffix;
  const index = hostIndex(snapshot);

  const direct = findService(index, name, client, domainSuffix);
  if (direct !== undefined) {
    const records: DnsRecord[] = [];
    // Owner name as asked (resolvers compare case-insensitively; 0x20 randomisation needs the case).
    addressRecords(direct, type, asked, client, options.ttl, records);
    return records.length > 0 ? { kind: "answer", records } : NODATA;
  }

  // Every search domain ends with the cluster domain: most external names stop here.
  if (!name.endsWith(domainSuffix)) return FORWARD;

  // A known name with one of the client's search domains appended (the resolver's first tries).
  for (const domain of kubernetesSearchDomains(client.namespace, domainSuffix)) {
    if (name.length <= domain.length + 1 || !name.endsWith(domain)) continue;
    if (name.charCodeAt(name.length - domain.length - 1) !== 0x2e) continue;
    const stripped = name.slice(0, name.length - domain.length - 1);
    const service = findService(index, stripped, client, domainSuffix);
    if (service === undefined) {
      if (isBelowVipService(index, stripped, domainSuffix)) return NXDOMAIN;
      continue;
    }
    // CNAME to the Service's own hostname (absolute, so a client that re-queries the target gets
    // the same answer from any resolver), then its addresses under that name.
    const target = trimDot(service.hostname.toLowerCase());
    const records: DnsRecord[] = [{ type: "CNAME", name: asked, ttl: options.ttl, target }];
    addressRecords(service, type, target, client, options.ttl, records);
    return records.length > 1 ? { kind: "answer", records } : NODATA;
  }

  if (isBelowVipService(index, name, domainSuffix)) return NXDOMAIN;
  return FORWARD;
}
