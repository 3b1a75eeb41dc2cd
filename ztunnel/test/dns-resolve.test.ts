// resolveDns as a table: which names the proxy answers from the mesh (and with what), which it
// refuses as NXDOMAIN, and which it leaves to the upstream resolver.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyDelta, emptySnapshot, type Service, type Snapshot } from "@weft/state";
import {
  kubernetesSearchDomains,
  resolveDns,
  type DnsClient,
  type DnsResolution,
  type ResolveOptions,
} from "@weft/ztunnel";

function service(name: string, namespace: string, vips: string[], hostname?: string): Service {
  return {
    name,
    namespace,
    hostname: hostname ?? `${name}.${namespace}.svc.cluster.local`,
    vips: vips.map((address) => ({ network: address.startsWith("172.") ? "remote" : "", address })),
    ports: [{ servicePort: 80, targetPort: 8080 }],
    subjectAltNames: [],
  };
}

function snapshotOf(services: Service[]): Snapshot {
  const { snapshot, errors } = applyDelta(emptySnapshot(), {
    upsert: services.map((s) => ({ kind: "service" as const, service: s })),
  });
  assert.deepEqual(errors, []);
  return snapshot;
}

const MESH = snapshotOf([
  service("echo", "shop", ["10.96.0.10"]),
  service("v6only", "shop", ["fd00:96::11"]),
  service("dual", "shop", ["10.96.0.12", "fd00:96::12"]),
  service("multi", "shop", ["10.96.0.13", "10.96.1.13"]),
  service("split", "shop", ["10.96.0.14", "172.16.0.14"]),
  service("headless", "shop", []),
  service("cart", "billing", ["10.96.2.20"]),
  // The same hostname exported by two namespaces (ServiceEntry-like): the client's own wins.
  service("api", "billing", ["10.96.3.30"], "api.example.com"),
  service("api", "shop", ["10.96.3.31"], "api.example.com"),
]);

const OPTIONS: ResolveOptions = { domainSuffix: "cluster.local", ttl: 30 };
const SHOP: DnsClient = { namespace: "shop" };

const a = (name: string, ...addresses: string[]): DnsResolution => ({
  kind: "answer",
  records: addresses.map((address) => ({ type: "A", name, ttl: 30, address })),
});
const aaaa = (name: string, ...addresses: string[]): DnsResolution => ({
  kind: "answer",
  records: addresses.map((address) => ({ type: "AAAA", name, ttl: 30, address })),
});
const cnameA = (name: string, target: string, ...addresses: string[]): DnsResolution => ({
  kind: "answer",
  records: [
    { type: "CNAME", name, ttl: 30, target },
    ...addresses.map((address) => ({ type: "A" as const, name: target, ttl: 30, address })),
  ],
});
const NODATA: DnsResolution = { kind: "nodata" };
const NXDOMAIN: DnsResolution = { kind: "nxdomain" };
const FORWARD: DnsResolution = { kind: "forward" };

interface Case {
  readonly what: string;
  readonly name: string;
  readonly type?: string;
  readonly client?: DnsClient;
  readonly want: DnsResolution;
}

const CASES: readonly Case[] = [
  // The forms of a Service name.
  { what: "FQDN", name: "echo.shop.svc.cluster.local", want: a("echo.shop.svc.cluster.local", "10.96.0.10") },
  {
    what: "FQDN with the trailing dot",
    name: "echo.shop.svc.cluster.local.",
    want: a("echo.shop.svc.cluster.local", "10.96.0.10"),
  },
  {
    what: "case-insensitive; the owner name keeps the asked case (0x20 randomisation)",
    name: "EcHo.Shop.SVC.cluster.LOCAL",
    want: a("EcHo.Shop.SVC.cluster.LOCAL", "10.96.0.10"),
  },
  { what: "short name in the client's own namespace", name: "echo", want: a("echo", "10.96.0.10") },
  { what: "<svc>.<ns>", name: "cart.billing", want: a("cart.billing", "10.96.2.20") },
  { what: "<svc>.<ns>.svc", name: "cart.billing.svc", want: a("cart.billing.svc", "10.96.2.20") },
  {
    what: "FQDN of a Service in another namespace",
    name: "cart.billing.svc.cluster.local",
    want: a("cart.billing.svc.cluster.local", "10.96.2.20"),
  },
  {
    what: "a short name resolves only in the client's namespace (cart is in billing)",
    name: "cart",
    want: FORWARD,
  },
  {
    what: "the same short name from a client in billing",
    name: "cart",
    client: { namespace: "billing" },
    want: a("cart", "10.96.2.20"),
  },

  // What a resolver with the Kubernetes search path sends first (ndots:5).
  {
    what: "FQDN + first search domain: CNAME to the Service, then its address",
    name: "echo.shop.svc.cluster.local.shop.svc.cluster.local",
    want: cnameA(
      "echo.shop.svc.cluster.local.shop.svc.cluster.local",
      "echo.shop.svc.cluster.local",
      "10.96.0.10",
    ),
  },
  {
    what: "FQDN + second search domain",
    name: "echo.shop.svc.cluster.local.svc.cluster.local",
    want: cnameA(
      "echo.shop.svc.cluster.local.svc.cluster.local",
      "echo.shop.svc.cluster.local",
      "10.96.0.10",
    ),
  },
  {
    what: "FQDN + third search domain",
    name: "echo.shop.svc.cluster.local.cluster.local",
    want: cnameA("echo.shop.svc.cluster.local.cluster.local", "echo.shop.svc.cluster.local", "10.96.0.10"),
  },
  {
    what: "<svc>.<ns> + the client's search domain",
    name: "cart.billing.shop.svc.cluster.local",
    want: cnameA("cart.billing.shop.svc.cluster.local", "cart.billing.svc.cluster.local", "10.96.2.20"),
  },
  {
    what: "a search domain that is not the client's (another namespace's) is not stripped",
    name: "echo.shop.svc.cluster.local.billing.svc.cluster.local",
    want: FORWARD,
  },
  {
    what: "AAAA for a search expansion of an IPv4-only Service: NOERROR, no records",
    name: "echo.shop.svc.cluster.local.shop.svc.cluster.local",
    type: "AAAA",
    want: NODATA,
  },
  {
    what: "a non-mesh name with a search domain appended goes upstream as asked",
    name: "www.example.org.shop.svc.cluster.local",
    want: FORWARD,
  },

  // Address families.
  { what: "AAAA of an IPv4-only Service: NOERROR, no records", name: "echo", type: "AAAA", want: NODATA },
  { what: "A of an IPv6-only Service: NOERROR, no records", name: "v6only", type: "A", want: NODATA },
  { what: "AAAA of an IPv6-only Service", name: "v6only", type: "AAAA", want: aaaa("v6only", "fd00:96::11") },
  { what: "dual-stack, A", name: "dual", want: a("dual", "10.96.0.12") },
  { what: "dual-stack, AAAA", name: "dual", type: "AAAA", want: aaaa("dual", "fd00:96::12") },
  {
    what: "several VIPs: all of them, in order",
    name: "multi",
    want: a("multi", "10.96.0.13", "10.96.1.13"),
  },
  {
    what: "without a client network every VIP is answered",
    name: "split",
    want: a("split", "10.96.0.14", "172.16.0.14"),
  },
  {
    what: "with a client network only that network's VIPs",
    name: "split",
    client: { namespace: "shop", network: "" },
    want: a("split", "10.96.0.14"),
  },

  // Not ours.
  { what: "unknown name", name: "www.example.org", want: FORWARD },
  {
    what: "unknown name in the cluster domain (maybe a non-mesh Service)",
    name: "db.shop.svc.cluster.local",
    want: FORWARD,
  },
  {
    what: "headless Service (no VIP): upstream knows its pods",
    name: "headless.shop.svc.cluster.local",
    want: FORWARD,
  },
  {
    what: "other record types of a mesh name",
    name: "echo.shop.svc.cluster.local",
    type: "MX",
    want: FORWARD,
  },
  { what: "SRV of a mesh name", name: "_http._tcp.echo.shop.svc.cluster.local", type: "SRV", want: FORWARD },
  { what: "the root", name: ".", want: FORWARD },
  { what: "<svc>.<ns>.svc.cluster (not a short form)", name: "cart.billing.svc.cluster", want: FORWARD },

  // Names that cannot exist.
  {
    what: "one label below a Service with a VIP (kube-dns has no such name)",
    name: "pod-0.echo.shop.svc.cluster.local",
    want: NXDOMAIN,
  },
  {
    what: "the same through a search domain",
    name: "pod-0.echo.shop.svc.cluster.local.shop.svc.cluster.local",
    want: NXDOMAIN,
  },
  {
    what: "an underscore label below a Service (SRV owner names exist) is not ours to deny",
    name: "_tcp.echo.shop.svc.cluster.local",
    want: FORWARD,
  },
  {
    what: "one label below a headless Service may be a pod: upstream",
    name: "pod-0.headless.shop.svc.cluster.local",
    want: FORWARD,
  },

  // Non-Kubernetes hostnames.
  {
    what: "a hostname served by two namespaces: the client's own",
    name: "api.example.com",
    want: a("api.example.com", "10.96.3.31"),
  },
  {
    what: "… and from a third namespace, the first by namespace",
    name: "api.example.com",
    client: { namespace: "web" },
    want: a("api.example.com", "10.96.3.30"),
  },
  {
    what: "a non-Kubernetes mesh hostname + search domain: CNAME",
    name: "api.example.com.shop.svc.cluster.local",
    want: cnameA("api.example.com.shop.svc.cluster.local", "api.example.com", "10.96.3.31"),
  },
];

void describe("resolveDns", () => {
  for (const c of CASES) {
    void it(`${c.what}: ${c.type ?? "A"} ${c.name}`, () => {
      const got = resolveDns(MESH, { name: c.name, type: c.type ?? "A" }, c.client ?? SHOP, OPTIONS);
      assert.deepEqual(got, c.want);
    });
  }

  void it("follows the snapshot it is given (the index is per snapshot)", () => {
    const before = resolveDns(MESH, { name: "echo", type: "A" }, SHOP, OPTIONS);
    const { snapshot: after } = applyDelta(MESH, {
      upsert: [{ kind: "service", service: service("echo", "shop", ["10.96.9.99"]) }],
    });
    assert.deepEqual(before, a("echo", "10.96.0.10"));
    assert.deepEqual(resolveDns(after, { name: "echo", type: "A" }, SHOP, OPTIONS), a("echo", "10.96.9.99"));
    assert.deepEqual(resolveDns(emptySnapshot(), { name: "echo", type: "A" }, SHOP, OPTIONS), FORWARD);
  });

  void it("uses the configured cluster domain and TTL", () => {
    const mesh = snapshotOf([service("echo", "shop", ["10.96.0.10"], "echo.shop.svc.corp.internal")]);
    const opts = { domainSuffix: "corp.internal", ttl: 5 };
    assert.deepEqual(resolveDns(mesh, { name: "echo", type: "A" }, SHOP, opts), {
      kind: "answer",
      records: [{ type: "A", name: "echo", ttl: 5, address: "10.96.0.10" }],
    });
    assert.deepEqual(resolveDns(mesh, { name: "echo.shop", type: "A" }, SHOP, OPTIONS), FORWARD);
  });

  void it("kubernetesSearchDomains is kubelet's ClusterFirst search path", () => {
    assert.deepEqual(kubernetesSearchDomains("shop", "cluster.local"), [
      "shop.svc.cluster.local",
      "svc.cluster.local",
      "cluster.local",
    ]);
  });
});
