import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  authorizeInbound,
  checkPeerAuthentication,
  type InboundConnection,
  type InboundDecision,
} from "../src/decisions/inbound.js";
import { stringMatch } from "../src/rbac.js";
import type { Workload } from "../src/types.js";
import { authorization, peerAuthentication, policy, snapshotOf, workload, type Fixture } from "./fixtures.js";

const server = workload("server", { addresses: ["10.0.1.1", "fd00::1:1"] });
const CLIENT = "spiffe://cluster.local/ns/client-ns/sa/client-sa";

interface Row {
  name: string;
  store: Fixture[];
  destination?: Workload;
  conn?: Partial<Omit<InboundConnection, "destinationWorkload">>;
  expect: Partial<InboundDecision>;
}

const allowed = (o: Partial<InboundDecision> = {}): Partial<InboundDecision> => ({ allow: true, ...o });
const denied = (o: Partial<InboundDecision> = {}): Partial<InboundDecision> => ({ allow: false, ...o });

const rows: Row[] = [
  { name: "no policies: allow", store: [], expect: allowed({ reason: "NO_ALLOW_POLICIES", audits: [] }) },
  {
    name: "ALLOW matching the principal exactly",
    store: [
      policy("allow-client", "ALLOW", [
        { principals: [{ exact: "cluster.local/ns/client-ns/sa/client-sa" }] },
      ]),
    ],
    expect: allowed({ reason: "ALLOW_MATCHED", policy: "default/allow-client" }),
  },
  {
    name: "ALLOW for someone else: deny",
    store: [policy("allow-other", "ALLOW", [{ principals: [stringMatch("cluster.local/ns/other/sa/x")] }])],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "DENY matching: deny",
    store: [policy("deny-client", "DENY", [{ namespaces: [stringMatch("client-ns")] }])],
    expect: denied({ reason: "DENY_MATCHED", policy: "default/deny-client" }),
  },
  {
    name: "DENY beats a matching ALLOW",
    store: [
      policy("a-allow", "ALLOW", [{ namespaces: [stringMatch("client-ns")] }]),
      policy("z-deny", "DENY", [{ destinationPorts: [8080] }]),
    ],
    expect: denied({ reason: "DENY_MATCHED", policy: "default/z-deny" }),
  },
  {
    name: "DENY not matching and no ALLOW: allow",
    store: [policy("deny-other", "DENY", [{ namespaces: [stringMatch("evil")] }])],
    expect: allowed({ reason: "NO_ALLOW_POLICIES" }),
  },
  {
    name: "ALLOW without rules allows nothing",
    store: [authorization("allow-nothing", { action: "ALLOW", rules: [] })],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "ALLOW with a rule without clauses allows everything",
    store: [authorization("allow-all", { action: "ALLOW", rules: [{ clauses: [] }] })],
    expect: allowed({ reason: "ALLOW_MATCHED", policy: "default/allow-all" }),
  },
  {
    name: "namespace prefix match",
    store: [policy("p", "ALLOW", [{ namespaces: [stringMatch("client-*")] }])],
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "principal suffix match is against the URI without spiffe://",
    store: [policy("p", "ALLOW", [{ principals: [stringMatch("*/sa/client-sa")] }])],
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "principal prefix including spiffe:// never matches (Istio strips it)",
    store: [policy("p", "ALLOW", [{ principals: [stringMatch("spiffe://cluster.local/*")] }])],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "principal presence does not match plaintext",
    store: [policy("p", "ALLOW", [{ principals: [stringMatch("*")] }])],
    conn: { sourcePrincipal: undefined },
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "DENY notPrincipals presence (require mTLS) denies plaintext",
    store: [policy("require-mtls", "DENY", [{ notPrincipals: [stringMatch("*")] }])],
    conn: { sourcePrincipal: undefined },
    expect: denied({ reason: "DENY_MATCHED", policy: "default/require-mtls" }),
  },
  {
    name: "DENY notPrincipals presence lets mTLS through",
    store: [policy("require-mtls", "DENY", [{ notPrincipals: [stringMatch("*")] }])],
    expect: allowed({ reason: "NO_ALLOW_POLICIES" }),
  },
  {
    name: "sourceIps CIDR match",
    store: [policy("p", "ALLOW", [{ sourceIps: ["10.0.0.0/24"] }])],
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "sourceIps bare IP is a host match",
    store: [policy("p", "ALLOW", [{ sourceIps: ["10.0.0.2"] }])],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "notSourceIps excludes the source",
    store: [policy("p", "ALLOW", [{ namespaces: [stringMatch("client-ns")], notSourceIps: ["10.0.0.0/8"] }])],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "IPv4-mapped IPv6 source matches an IPv4 CIDR",
    store: [policy("p", "ALLOW", [{ sourceIps: ["10.0.0.0/24"] }])],
    conn: { sourceIp: "::ffff:10.0.0.1" },
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "destinationPorts mismatch",
    store: [policy("p", "ALLOW", [{ destinationPorts: [9090] }])],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "notDestinationPorts excludes the port",
    store: [policy("p", "DENY", [{ notDestinationPorts: [8080] }])],
    expect: allowed({ reason: "NO_ALLOW_POLICIES" }),
  },
  {
    name: "destinationIps IPv6 CIDR",
    store: [policy("p", "ALLOW", [{ destinationIps: ["fd00::/16"] }])],
    conn: { destinationIp: "fd00::1:1" },
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "serviceAccounts match namespace and account of the identity",
    store: [
      policy("p", "ALLOW", [{ serviceAccounts: [{ namespace: "client-ns", serviceAccount: "client-sa" }] }]),
    ],
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "serviceAccounts need both parts to match",
    store: [
      policy("p", "ALLOW", [{ serviceAccounts: [{ namespace: "client-ns", serviceAccount: "other" }] }]),
    ],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "fields within a match AND: namespace matches but port does not",
    store: [policy("p", "ALLOW", [{ namespaces: [stringMatch("client-ns")], destinationPorts: [9090] }])],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "values within a field OR",
    store: [policy("p", "ALLOW", [{ principals: [stringMatch("nobody"), stringMatch("*client-sa")] }])],
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "matches within a clause OR",
    store: [policy("p", "ALLOW", [{ destinationPorts: [1] }, { sourceIps: ["10.0.0.1/32"] }])],
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "clauses within a rule AND",
    store: [
      authorization("p", {
        rules: [
          {
            clauses: [
              { matches: [{ namespaces: [stringMatch("client-ns")] }] },
              { matches: [{ destinationPorts: [9090] }] },
            ],
          },
        ],
      }),
    ],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "rules within a policy OR",
    store: [
      authorization("p", {
        rules: [
          { clauses: [{ matches: [{ destinationPorts: [9090] }] }] },
          { clauses: [{ matches: [{ destinationPorts: [8080] }] }] },
        ],
      }),
    ],
    expect: allowed({ reason: "ALLOW_MATCHED" }),
  },
  {
    name: "a match with no fields never matches",
    store: [policy("p", "ALLOW", [{}])],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "GLOBAL-scoped policy from any namespace applies",
    store: [
      policy("global-deny", "DENY", [{ destinationPorts: [8080] }], {
        namespace: "security",
        scope: "GLOBAL",
      }),
    ],
    expect: denied({ reason: "DENY_MATCHED", policy: "security/global-deny" }),
  },
  {
    name: "root namespace NAMESPACE-scoped policy applies mesh-wide",
    store: [policy("mesh-allow", "ALLOW", [{ destinationPorts: [9999] }], { namespace: "weft-system" })],
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
  {
    name: "another namespace's policy does not apply",
    store: [policy("other", "DENY", [{ destinationPorts: [8080] }], { namespace: "other" })],
    expect: allowed({ reason: "NO_ALLOW_POLICIES" }),
  },
  {
    name: "WORKLOAD_SELECTOR policy applies to a workload listing it",
    store: [policy("sel", "DENY", [{ destinationPorts: [8080] }], { scope: "WORKLOAD_SELECTOR" })],
    destination: { ...server, authorizationPolicies: ["default/sel"] },
    expect: denied({ reason: "DENY_MATCHED", policy: "default/sel" }),
  },
  {
    name: "WORKLOAD_SELECTOR policy does not apply to other workloads",
    store: [policy("sel", "DENY", [{ destinationPorts: [8080] }], { scope: "WORKLOAD_SELECTOR" })],
    expect: allowed({ reason: "NO_ALLOW_POLICIES" }),
  },
  {
    name: "a workload naming an unknown policy is judged without it",
    store: [],
    destination: { ...server, authorizationPolicies: ["default/not-yet-pushed"] },
    expect: allowed({ reason: "NO_ALLOW_POLICIES" }),
  },
  {
    name: "AUDIT match is recorded and changes nothing",
    store: [policy("audit", "AUDIT", [{ destinationPorts: [8080] }])],
    expect: allowed({ reason: "NO_ALLOW_POLICIES", audits: ["default/audit"] }),
  },
  {
    name: "a policy both indexed by namespace and listed by the workload counts once",
    store: [policy("audit", "AUDIT", [{ destinationPorts: [8080] }])],
    destination: { ...server, authorizationPolicies: ["default/audit"] },
    expect: allowed({ reason: "NO_ALLOW_POLICIES", audits: ["default/audit"] }),
  },
  {
    name: "AUDIT alongside a DENY match is still recorded",
    store: [
      policy("audit", "AUDIT", [{ destinationPorts: [8080] }]),
      policy("deny", "DENY", [{ destinationPorts: [8080] }]),
    ],
    expect: denied({ reason: "DENY_MATCHED", audits: ["default/audit"] }),
  },
  {
    name: "dry-run DENY that matches: allowed, reported as a would-be denial",
    store: [policy("dry", "DENY", [{ destinationPorts: [8080] }], { dryRun: true })],
    expect: allowed({
      reason: "NO_ALLOW_POLICIES",
      dryRun: { allow: false, reason: "DENY_MATCHED", policy: "default/dry", matched: ["default/dry"] },
    }),
  },
  {
    name: "dry-run ALLOW that does not match: allowed, reported as a would-be NO_ALLOW_MATCH",
    store: [policy("dry", "ALLOW", [{ destinationPorts: [1] }], { dryRun: true })],
    expect: allowed({
      reason: "NO_ALLOW_POLICIES",
      dryRun: { allow: false, reason: "NO_ALLOW_MATCH", matched: [] },
    }),
  },
  {
    name: "an enforced DENY is not softened by a dry-run ALLOW",
    store: [
      policy("deny", "DENY", [{ destinationPorts: [8080] }]),
      policy("dry", "ALLOW", [{ destinationPorts: [8080] }], { dryRun: true }),
    ],
    expect: denied({
      reason: "DENY_MATCHED",
      dryRun: { allow: false, reason: "DENY_MATCHED", policy: "default/deny", matched: ["default/dry"] },
    }),
  },
  {
    name: "a non-SPIFFE principal has no namespace",
    store: [policy("p", "ALLOW", [{ namespaces: [stringMatch("*")] }])],
    conn: { sourcePrincipal: "https://example.com/client" },
    expect: denied({ reason: "NO_ALLOW_MATCH" }),
  },
];

void describe("authorizeInbound", () => {
  for (const row of rows) {
    void it(row.name, () => {
      const snapshot = snapshotOf(row.store);
      const decision = authorizeInbound(snapshot, {
        sourcePrincipal: CLIENT,
        sourceIp: "10.0.0.1",
        destinationIp: "10.0.1.1",
        destinationPort: 8080,
        ...row.conn,
        destinationWorkload: row.destination ?? server,
      });
      const picked: Record<string, unknown> = {};
      for (const k of Object.keys(row.expect)) picked[k] = decision[k as keyof InboundDecision];
      assert.deepEqual(picked, row.expect, JSON.stringify(decision));
    });
  }

  void it("has a table of at least 30 cases", () => {
    assert.ok(rows.length >= 30);
  });
});

void describe("checkPeerAuthentication", () => {
  const cases: {
    name: string;
    store: Fixture[];
    wl?: Workload;
    port?: number;
    mtls: boolean;
    expect: Record<string, unknown>;
  }[] = [
    {
      name: "mesh default is PERMISSIVE",
      store: [],
      mtls: false,
      expect: { allow: true, mode: "PERMISSIVE" },
    },
    {
      name: "namespace STRICT refuses plaintext",
      store: [peerAuthentication("strict")],
      mtls: false,
      expect: { allow: false, mode: "STRICT", policy: "default/strict" },
    },
    {
      name: "namespace STRICT accepts mTLS",
      store: [peerAuthentication("strict")],
      mtls: true,
      expect: { allow: true, mode: "STRICT" },
    },
    {
      name: "root namespace policy is mesh-wide",
      store: [peerAuthentication("mesh", { namespace: "weft-system" })],
      mtls: false,
      expect: { allow: false, mode: "STRICT", policy: "weft-system/mesh" },
    },
    {
      name: "namespace PERMISSIVE overrides mesh STRICT",
      store: [
        peerAuthentication("mesh", { namespace: "weft-system", scope: "MESH" }),
        peerAuthentication("perm", { mode: "PERMISSIVE" }),
      ],
      mtls: false,
      expect: { allow: true, mode: "PERMISSIVE", policy: "default/perm" },
    },
    {
      name: "namespace UNSET inherits mesh STRICT",
      store: [
        peerAuthentication("mesh", { namespace: "weft-system" }),
        peerAuthentication("unset", { mode: "UNSET" }),
      ],
      mtls: false,
      expect: { allow: false, mode: "STRICT", policy: "weft-system/mesh" },
    },
    {
      name: "workload PERMISSIVE overrides namespace STRICT",
      store: [
        peerAuthentication("strict"),
        peerAuthentication("wl", { scope: "WORKLOAD_SELECTOR", mode: "PERMISSIVE" }),
      ],
      wl: { ...server, peerAuthentications: ["default/wl"] },
      mtls: false,
      expect: { allow: true, mode: "PERMISSIVE", policy: "default/wl" },
    },
    {
      name: "workload-scoped policy does not affect workloads not listing it",
      store: [peerAuthentication("wl", { scope: "WORKLOAD_SELECTOR", mode: "STRICT" })],
      mtls: false,
      expect: { allow: true, mode: "PERMISSIVE" },
    },
    {
      name: "port-level DISABLE on a STRICT workload",
      store: [
        peerAuthentication("wl", {
          scope: "WORKLOAD_SELECTOR",
          mode: "STRICT",
          portLevelMtls: { 9000: "DISABLE" },
        }),
      ],
      wl: { ...server, peerAuthentications: ["default/wl"] },
      port: 9000,
      mtls: false,
      expect: { allow: true, mode: "DISABLE" },
    },
    {
      name: "port-level setting does not leak to other ports",
      store: [
        peerAuthentication("wl", {
          scope: "WORKLOAD_SELECTOR",
          mode: "STRICT",
          portLevelMtls: { 9000: "DISABLE" },
        }),
      ],
      wl: { ...server, peerAuthentications: ["default/wl"] },
      port: 8080,
      mtls: false,
      expect: { allow: false, mode: "STRICT" },
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const d = checkPeerAuthentication(snapshotOf(c.store), c.wl ?? server, c.mtls, c.port);
      const picked: Record<string, unknown> = {};
      for (const k of Object.keys(c.expect)) picked[k] = d[k as keyof typeof d];
      assert.deepEqual(picked, c.expect);
    });
  }
});
