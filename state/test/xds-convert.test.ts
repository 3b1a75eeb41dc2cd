import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { security, workload as wl } from "@weft/api";
import {
  ConversionError,
  addressFromProto,
  authorizationFromProto,
  ipFromBytes,
  validateResource,
} from "../src/index.js";

void describe("ipFromBytes", () => {
  const cases: [number[], string | RegExp][] = [
    [[10, 0, 0, 1], "10.0.0.1"],
    [[0, 0, 0, 0], "0.0.0.0"],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "2001:db8::1"],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "::1"],
    // IPv4-mapped IPv6 is indexed as IPv4, as the store expects.
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2], "192.168.1.2"],
    [[1, 2, 3], /has 3 bytes; an IP address has 4 \(IPv4\) or 16 \(IPv6\)/],
    [[1, 2, 3, 4, 5], /addresses\[0\] has 5 bytes/],
    [[], /has 0 bytes/],
  ];
  for (const [bytes, want] of cases) {
    void it(`${JSON.stringify(bytes)} → ${String(want)}`, () => {
      if (typeof want === "string") assert.equal(ipFromBytes(new Uint8Array(bytes), "addresses[0]"), want);
      else
        assert.throws(
          () => ipFromBytes(new Uint8Array(bytes), "addresses[0]"),
          (e: Error) => e instanceof ConversionError && want.test(e.message),
        );
    });
  }
});

void describe("addressFromProto", () => {
  void it("converts a workload with every field the store uses, and it validates", () => {
    const r = addressFromProto(
      create(wl.AddressSchema, {
        type: {
          case: "workload",
          value: {
            uid: "Kubernetes//Pod/shop/cart-1",
            name: "cart-1",
            namespace: "shop",
            addresses: [new Uint8Array([10, 1, 0, 5])],
            network: "",
            tunnelProtocol: wl.TunnelProtocol.HBONE,
            serviceAccount: "cart",
            node: "node-a",
            canonicalName: "cart",
            canonicalRevision: "v1",
            workloadName: "cart",
            workloadType: wl.WorkloadType.DEPLOYMENT,
            services: {
              "shop/cart.shop.svc.cluster.local": { ports: [{ servicePort: 80, targetPort: 8080 }] },
            },
            authorizationPolicies: ["shop/allow-web"],
            status: wl.WorkloadStatus.UNHEALTHY,
            clusterId: "Kubernetes",
            locality: { region: "r1", zone: "z1", subzone: "" },
            waypoint: {
              destination: {
                case: "hostname",
                value: { namespace: "shop", hostname: "wp.shop.svc.cluster.local" },
              },
              hboneMtlsPort: 15008,
            },
          },
        },
      }),
    );
    assert.equal(r.kind, "workload");
    if (r.kind !== "workload") return;
    assert.deepEqual(r.workload, {
      uid: "Kubernetes//Pod/shop/cart-1",
      name: "cart-1",
      namespace: "shop",
      addresses: ["10.1.0.5"],
      network: "",
      node: "node-a",
      serviceAccount: "cart",
      trustDomain: "cluster.local",
      tunnelProtocol: "HBONE",
      waypoint: {
        destination: { kind: "hostname", namespace: "shop", hostname: "wp.shop.svc.cluster.local" },
        hboneMtlsPort: 15008,
      },
      locality: { region: "r1", zone: "z1", subzone: "" },
      services: { "shop/cart.shop.svc.cluster.local": { 80: 8080 } },
      authorizationPolicies: ["shop/allow-web"],
      status: "Unhealthy",
      canonicalName: "cart",
      canonicalRevision: "v1",
      workloadName: "cart",
      workloadType: "DEPLOYMENT",
      clusterId: "Kubernetes",
    });
    assert.equal(validateResource(r).kind, "workload");
  });

  void it("converts a service with VIPs and load balancing", () => {
    const r = addressFromProto(
      create(wl.AddressSchema, {
        type: {
          case: "service",
          value: {
            name: "cart",
            namespace: "shop",
            hostname: "cart.shop.svc.cluster.local",
            addresses: [{ network: "", address: new Uint8Array([10, 96, 0, 10]) }],
            ports: [{ servicePort: 80, targetPort: 0 }],
            loadBalancing: {
              mode: wl.LoadBalancing_Mode.FAILOVER,
              routingPreference: [wl.LoadBalancing_Scope.REGION, wl.LoadBalancing_Scope.ZONE],
            },
          },
        },
      }),
    );
    assert.equal(r.kind, "service");
    if (r.kind !== "service") return;
    assert.deepEqual(r.service.vips, [{ network: "", address: "10.96.0.10" }]);
    assert.deepEqual(r.service.ports, [{ servicePort: 80, targetPort: 0 }]);
    assert.deepEqual(r.service.loadBalancing, {
      mode: "FAILOVER",
      routingPreference: ["REGION", "ZONE"],
      healthPolicy: "ONLY_HEALTHY",
    });
    assert.equal(validateResource(r).kind, "service");
  });

  const bad: [string, Parameters<typeof create<typeof wl.AddressSchema>>[1], RegExp][] = [
    ["empty Address", {}, /neither a workload nor a service/],
    [
      "unknown tunnel protocol",
      { type: { case: "workload", value: { uid: "u", tunnelProtocol: 7 as wl.TunnelProtocol } } },
      /tunnelProtocol has enum value 7/,
    ],
    [
      "service VIP of 2 bytes",
      { type: { case: "service", value: { addresses: [{ address: new Uint8Array([1, 2]) }] } } },
      /addresses\[0\]\.address has 2 bytes/,
    ],
    [
      "PASSTHROUGH load balancing",
      { type: { case: "service", value: { loadBalancing: { mode: wl.LoadBalancing_Mode.PASSTHROUGH } } } },
      /PASSTHROUGH is not supported/,
    ],
  ];
  for (const [name, init, want] of bad) {
    void it(`rejects ${name}`, () => {
      assert.throws(() => addressFromProto(create(wl.AddressSchema, init)), want);
    });
  }
});

void describe("authorizationFromProto", () => {
  void it("maps groups → rules, Rules → clauses, matches → matches, CIDRs to text", () => {
    const a = authorizationFromProto(
      create(security.AuthorizationSchema, {
        name: "allow-web",
        namespace: "shop",
        scope: security.Scope.WORKLOAD_SELECTOR,
        action: security.Action.DENY,
        dryRun: true,
        groups: [
          {
            rules: [
              {
                matches: [
                  {
                    principals: [{ matchType: { case: "prefix", value: "spiffe://cluster.local/ns/shop/" } }],
                    sourceIps: [{ address: new Uint8Array([10, 0, 0, 0]), length: 8 }],
                    destinationPorts: [8080],
                  },
                ],
              },
              { matches: [{ namespaces: [{ matchType: { case: "presence", value: {} } }] }] },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(a, {
      name: "allow-web",
      namespace: "shop",
      scope: "WORKLOAD_SELECTOR",
      action: "DENY",
      dryRun: true,
      rules: [
        {
          clauses: [
            {
              matches: [
                {
                  principals: [{ prefix: "spiffe://cluster.local/ns/shop/" }],
                  sourceIps: ["10.0.0.0/8"],
                  destinationPorts: [8080],
                },
              ],
            },
            { matches: [{ namespaces: [{ presence: true }] }] },
          ],
        },
      ],
    });
    assert.equal(validateResource({ kind: "authorization", authorization: a }).kind, "authorization");
  });

  void it("rejects a CIDR longer than its family allows", () => {
    assert.throws(
      () =>
        authorizationFromProto(
          create(security.AuthorizationSchema, {
            name: "x",
            namespace: "y",
            groups: [
              {
                rules: [
                  { matches: [{ sourceIps: [{ address: new Uint8Array([10, 0, 0, 0]), length: 33 }] }] },
                ],
              },
            ],
          }),
        ),
      /length 33 exceeds 32/,
    );
  });
});
