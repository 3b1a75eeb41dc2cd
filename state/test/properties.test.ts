// Properties that must hold for any store content, checked on generated data.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { authorizeInbound } from "../src/decisions/inbound.js";
import { localityRank, selectEndpoint } from "../src/decisions/endpoints.js";
import { parseIdentity } from "../src/identity.js";
import { authorizationMatches, stringMatch } from "../src/rbac.js";
import { applyDelta, emptySnapshot, type Snapshot } from "../src/store.js";
import type { Authorization, Match, Resource, Workload } from "../src/types.js";
import { resourceKey } from "../src/validate.js";
import { asResource, service, svcKey, workload } from "./fixtures.js";

const SERVICES = ["a", "b", "c"].map((n) =>
  service(n, { vips: [{ network: "", address: `10.96.0.${n.charCodeAt(0)}` }] }),
);

const workloadArb: fc.Arbitrary<Workload> = fc
  .record({
    name: fc.constantFrom("w1", "w2", "w3", "w4", "w5", "w6"),
    namespace: fc.constantFrom("default", "other"),
    ip: fc.integer({ min: 1, max: 8 }),
    services: fc.subarray(SERVICES.map(svcKey)),
    node: fc.constantFrom("n1", "n2"),
    zone: fc.constantFrom("z1", "z2"),
    region: fc.constantFrom("r1", "r2"),
    healthy: fc.boolean(),
  })
  .map((r) =>
    workload(r.name, {
      namespace: r.namespace,
      addresses: [`10.0.0.${r.ip}`],
      services: Object.fromEntries(r.services.map((s) => [s, {}])),
      node: r.node,
      locality: { region: r.region, zone: r.zone, subzone: "" },
      status: r.healthy ? "Healthy" : "Unhealthy",
    }),
  );

const matchArb: fc.Arbitrary<Match> = fc.record(
  {
    namespaces: fc.array(fc.constantFrom("client", "cl*", "*", "other").map(stringMatch), { maxLength: 2 }),
    notPrincipals: fc.array(fc.constantFrom("*", "*/sa/x").map(stringMatch), { maxLength: 1 }),
    sourceIps: fc.array(fc.constantFrom("10.0.0.0/24", "10.0.0.1", "192.168.0.0/16"), { maxLength: 2 }),
    destinationPorts: fc.array(fc.constantFrom(80, 8080), { maxLength: 2 }),
    notDestinationPorts: fc.array(fc.constantFrom(80, 8080), { maxLength: 1 }),
  },
  { requiredKeys: [] },
);

const policyArb: fc.Arbitrary<Authorization> = fc.record({
  name: fc.constantFrom("p1", "p2", "p3", "p4", "p5"),
  namespace: fc.constantFrom("default", "weft-system"),
  scope: fc.constantFrom("GLOBAL" as const, "NAMESPACE" as const),
  action: fc.constantFrom("ALLOW" as const, "DENY" as const, "AUDIT" as const),
  rules: fc.array(
    fc.record({
      clauses: fc.array(fc.record({ matches: fc.array(matchArb, { maxLength: 2 }) }), { maxLength: 2 }),
    }),
    {
      maxLength: 2,
    },
  ),
  dryRun: fc.boolean(),
});

const connArb = fc.record({
  sourcePrincipal: fc.option(
    fc.constantFrom("spiffe://cluster.local/ns/client/sa/x", "spiffe://cluster.local/ns/other/sa/y"),
    {
      nil: undefined,
    },
  ),
  sourceIp: fc.constantFrom("10.0.0.1", "10.0.0.9", "192.168.1.1"),
  destinationPort: fc.constantFrom(80, 8080),
});

function build(resources: readonly Resource[]): Snapshot {
  const { snapshot, errors } = applyDelta(emptySnapshot(), { upsert: resources });
  assert.deepEqual(errors, []);
  return snapshot;
}

void test("DENY always wins: whenever an enforced DENY policy matches, the connection is denied", () => {
  const server = workload("server", { addresses: ["10.1.0.1"] });
  fc.assert(
    fc.property(fc.array(policyArb, { maxLength: 6 }), connArb, (policies, c) => {
      const snapshot = build(policies.map(asResource));
      const decision = authorizeInbound(snapshot, {
        ...c,
        destinationIp: "10.1.0.1",
        destinationWorkload: server,
      });
      const rbacConn = {
        sourceIdentity: c.sourcePrincipal === undefined ? undefined : parseIdentity(c.sourcePrincipal),
        sourcePrincipal: c.sourcePrincipal ?? "",
        sourceIp: c.sourceIp,
        destinationIp: "10.1.0.1",
        destinationPort: c.destinationPort,
      };
      const anyDeny = [...snapshot.authorizations.values()].some(
        (p) => p.policy.action === "DENY" && !p.policy.dryRun && authorizationMatches(p, rbacConn),
      );
      if (anyDeny) assert.equal(decision.allow, false);
      // And adding a deny-everything policy always denies, whatever else is there.
      const denyAll = asResource({
        ...policies[0],
        name: "deny-all",
        namespace: "default",
        scope: "NAMESPACE",
        action: "DENY",
        dryRun: false,
        rules: [{ clauses: [] }],
      });
      const withDeny = build([...policies.map(asResource), denyAll]);
      const d2 = authorizeInbound(withDeny, { ...c, destinationIp: "10.1.0.1", destinationWorkload: server });
      assert.equal(d2.allow, false);
      assert.equal(d2.reason, "DENY_MATCHED");
    }),
  );
});

void test("AUDIT and dry-run policies never change the enforced decision", () => {
  const server = workload("server", { addresses: ["10.1.0.1"] });
  fc.assert(
    fc.property(fc.array(policyArb, { maxLength: 6 }), connArb, (policies, c) => {
      const enforcedOnly = policies.filter((p) => p.action !== "AUDIT" && !p.dryRun);
      // Keep only the last of each key, as the store does, before comparing.
      const keyOf = (p: Authorization): string => `${p.namespace}/${p.name}`;
      const last = new Map(policies.map((p) => [keyOf(p), p]));
      const survivors = enforcedOnly.filter((p) => last.get(keyOf(p)) === p);
      const conn = { ...c, destinationIp: "10.1.0.1", destinationWorkload: server };
      const all = authorizeInbound(build(policies.map(asResource)), conn);
      const plain = authorizeInbound(build(survivors.map(asResource)), conn);
      assert.equal(all.allow, plain.allow);
      assert.equal(all.reason, plain.reason);
    }),
  );
});

void test("removing everything yields an empty store", () => {
  fc.assert(
    fc.property(
      fc.array(workloadArb, { maxLength: 12 }),
      fc.array(policyArb, { maxLength: 4 }),
      (workloads, policies) => {
        const resources = [
          ...SERVICES.map(asResource),
          ...workloads.map(asResource),
          ...policies.map(asResource),
        ];
        const full = build(resources);
        const { snapshot, errors } = applyDelta(full, { remove: resources.map(resourceKey) });
        assert.deepEqual(errors, []);
        assert.equal(snapshot.workloads.size, 0);
        assert.equal(snapshot.services.size, 0);
        assert.equal(snapshot.authorizations.size, 0);
        assert.equal(snapshot.addressCount, 0);
        assert.deepEqual(snapshot.globalAuthorizations, []);
        assert.deepEqual(snapshot.namespaceAuthorizations("default"), []);
        for (const s of SERVICES) assert.deepEqual(snapshot.endpoints(svcKey(s)), []);
      },
    ),
  );
});

void test("one delta or one resource at a time: the same store", () => {
  fc.assert(
    fc.property(
      fc.array(workloadArb, { maxLength: 12 }),
      fc.array(fc.nat(11), { maxLength: 4 }),
      (workloads, removals) => {
        const resources = [...SERVICES.map(asResource), ...workloads.map(asResource)];
        const remove = removals.flatMap((i) => (workloads[i] === undefined ? [] : [workloads[i].uid]));
        let stepwise = emptySnapshot();
        for (const r of resources) stepwise = applyDelta(stepwise, { upsert: [r] }).snapshot;
        for (const k of remove) stepwise = applyDelta(stepwise, { remove: [k] }).snapshot;
        const once = applyDelta(build(resources), { remove }).snapshot;
        const view = (s: Snapshot): unknown => ({
          workloads: [...s.workloads.keys()].sort(),
          endpoints: SERVICES.map((svc) => s.endpoints(svcKey(svc)).map((e) => e.workload.uid)),
          vips: SERVICES.map((svc) => s.serviceByVip("", svc.vips[0]?.address ?? "")?.name),
        });
        assert.deepEqual(view(stepwise), view(once));
      },
    ),
  );
});

void test("FAILOVER picks an endpoint of the best available rank; STRICT only full matches", () => {
  const prefs = ["REGION", "ZONE", "NODE"] as const;
  fc.assert(
    fc.property(
      workloadArb,
      fc.array(workloadArb, { maxLength: 8 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.constantFrom("FAILOVER" as const, "STRICT" as const),
      (source, members, r, mode) => {
        const svc = service("lb", { loadBalancing: { mode, routingPreference: prefs } });
        const unique = [
          ...new Map(members.map((m) => [m.uid, { ...m, services: { [svcKey(svc)]: {} } }])).values(),
        ];
        const snapshot = build([asResource(svc), ...unique.map(asResource)]);
        const endpoints = snapshot.endpoints(svcKey(svc));
        const sel = selectEndpoint({ service: svc, endpoints, source, servicePort: 80, random: () => r });
        const healthy = endpoints.filter((e) => e.workload.status === "Healthy");
        const best = Math.max(-1, ...healthy.map((e) => localityRank(source, e.workload, prefs)));
        if (sel.ok) {
          assert.equal(sel.endpoint.workload.status, "Healthy");
          assert.equal(sel.rank, best);
          if (mode === "STRICT") assert.equal(sel.rank, prefs.length);
        } else {
          assert.ok(healthy.length === 0 || (mode === "STRICT" && best < prefs.length));
        }
      },
    ),
  );
});
