import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isWeftError } from "@weft/core";
import { StateStore, applyDelta, emptySnapshot, type Snapshot } from "../src/store.js";
import type { Resource, Workload } from "../src/types.js";
import {
  asResource,
  authorization,
  peerAuthentication,
  service,
  snapshotOf,
  svcKey,
  workload,
} from "./fixtures.js";

const api = service("api", {
  vips: [
    { network: "", address: "10.96.0.10" },
    { network: "", address: "FD00:96::0:10" },
  ],
});
const a1 = workload("a1", {
  addresses: ["10.0.0.1", "fd00::0:1"],
  services: { [svcKey(api)]: { 80: 8080 } },
});
const a2 = workload("a2", { addresses: ["10.0.0.2"], network: "net2", services: { [svcKey(api)]: {} } });
const global = authorization("g", { namespace: "security", scope: "GLOBAL" });
const root = authorization("r", { namespace: "weft-system" });
const nsPolicy = authorization("n", { namespace: "default" });
const selector = authorization("s", { scope: "WORKLOAD_SELECTOR" });

/** Everything observable through the snapshot's indexes, for comparing whole stores. */
function dump(s: Snapshot): unknown {
  const namespaces = new Set<string>();
  for (const p of s.authorizations.values()) namespaces.add(p.policy.namespace);
  for (const p of s.peerAuthentications.values()) namespaces.add(p.namespace);
  return {
    workloads: [...s.workloads.keys()].sort(),
    services: [...s.services.keys()].sort(),
    addresses: s.addressCount,
    endpoints: [...s.services.keys()].sort().map((k) => s.endpoints(k).map((e) => e.workload.uid)),
    authorizations: [...s.authorizations.keys()].sort(),
    global: s.globalAuthorizations,
    byNamespace: [...namespaces].sort().map((ns) => [ns, s.namespaceAuthorizations(ns)]),
    peerAuthentications: [...s.peerAuthentications.keys()].sort(),
    mesh: s.meshPeerAuthentications,
    paByNamespace: [...namespaces].sort().map((ns) => [ns, s.namespacePeerAuthentications(ns)]),
  };
}

void describe("Snapshot indexes", () => {
  const s = snapshotOf([api, a1, a2, global, root, nsPolicy, selector]);

  void test("workloads by uid and by network/ip, IPv6 canonical", () => {
    assert.equal(s.workload(a1.uid)?.name, "a1");
    assert.equal(s.workloadByAddress("", "10.0.0.1")?.name, "a1");
    assert.equal(s.workloadByAddress("", "fd00::1")?.name, "a1");
    assert.deepEqual(s.workload(a1.uid)?.addresses, ["10.0.0.1", "fd00::1"]);
    assert.equal(s.workloadByAddress("", "10.0.0.2"), undefined, "a2 is on net2");
    assert.equal(s.workloadByAddress("net2", "10.0.0.2")?.name, "a2");
  });

  void test("services by namespace/hostname and by network/vip", () => {
    assert.equal(s.service("default/api.default.svc.cluster.local")?.name, "api");
    assert.equal(s.serviceByHostname("default", "api.default.svc.cluster.local")?.name, "api");
    assert.equal(s.serviceByVip("", "10.96.0.10")?.name, "api");
    assert.equal(s.serviceByVip("", "fd00:96::10")?.name, "api");
    assert.equal(s.serviceByVip("net2", "10.96.0.10"), undefined);
  });

  void test("endpoints are derived from workloads' services, sorted by uid, with their ports", () => {
    const eps = s.endpoints(svcKey(api));
    assert.deepEqual(
      eps.map((e) => [e.workload.name, e.ports]),
      [
        ["a1", { 80: 8080 }],
        ["a2", {}],
      ],
    );
    assert.deepEqual(s.endpoints("default/unknown"), []);
  });

  void test("policies by scope: GLOBAL and root namespace are global, NAMESPACE by namespace, selector by key only", () => {
    assert.deepEqual(s.globalAuthorizations, ["security/g", "weft-system/r"]);
    assert.deepEqual(s.namespaceAuthorizations("default"), ["default/n"]);
    assert.deepEqual(s.namespaceAuthorizations("weft-system"), []);
    assert.ok(s.authorization("default/s"));
    assert.ok(!s.namespaceAuthorizations("default").includes("default/s"));
  });

  void test("rootNamespace is configurable", () => {
    const t = snapshotOf([root, nsPolicy], { rootNamespace: "default" });
    assert.deepEqual(t.globalAuthorizations, ["default/n"]);
    assert.deepEqual(t.namespaceAuthorizations("weft-system"), ["weft-system/r"]);
  });

  void test("endpoints exist for services that arrive after their workloads", () => {
    const first = snapshotOf([a1]);
    assert.equal(first.endpoints(svcKey(api)).length, 1);
    const { snapshot } = applyDelta(first, { upsert: [asResource(api)] });
    assert.equal(snapshot.endpoints(svcKey(api))[0]?.workload.name, "a1");
  });
});

void describe("applyDelta", () => {
  void test("one bad resource is reported by name; the rest apply", () => {
    const bad = workload("bad", { addresses: ["10.0.0.999"] });
    const { snapshot, errors } = applyDelta(emptySnapshot(), { upsert: [api, bad, a1].map(asResource) });
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.name, bad.uid);
    assert.ok(isWeftError(errors[0]?.error, "WEFT_E_INVALID_INPUT"));
    assert.match(errors[0]?.error.message ?? "", /addresses\[0\] is not an IP address/);
    assert.ok(snapshot.workload(a1.uid));
    assert.ok(snapshot.service(svcKey(api)));
    assert.equal(snapshot.workload(bad.uid), undefined);
  });

  void test("an invalid update leaves the previous version of that resource in place", () => {
    const s1 = snapshotOf([a1]);
    const { snapshot, errors } = applyDelta(s1, {
      upsert: [asResource({ ...a1, tunnelProtocol: "QUIC" as "HBONE" })],
    });
    assert.equal(errors.length, 1);
    assert.equal(snapshot, s1, "nothing valid changed, so the same snapshot comes back");
    assert.equal(snapshot.workload(a1.uid)?.tunnelProtocol, "HBONE");
  });

  void test("validation rejects malformed resources with a cause naming the field", () => {
    const cases: [string, Resource, RegExp][] = [
      ["missing uid", asResource({ ...a1, uid: "" }), /uid must be a non-empty string/],
      ["bad status", asResource({ ...a1, status: "Fine" as "Healthy" }), /status must be one of/],
      [
        "services key",
        asResource({ ...a1, services: { nokey: {} } }),
        /services key "nokey" must be "namespace\/name"/,
      ],
      [
        "target port",
        asResource({ ...a1, services: { "default/x": { 80: 70000 } } }),
        /must be an integer port/,
      ],
      ["duplicate address", asResource({ ...a1, addresses: ["10.0.0.1", "::ffff:10.0.0.1"] }), /duplicates/],
      [
        "waypoint address",
        asResource({
          ...a1,
          waypoint: { destination: { kind: "address", network: "", address: "nope" }, hboneMtlsPort: 15008 },
        }),
        /waypoint.destination.address is not an IP/,
      ],
      [
        "service port 0",
        asResource(service("x", { ports: [{ servicePort: 0, targetPort: 80 }] })),
        /servicePort must be an integer port 1/,
      ],
      [
        "duplicate service port",
        asResource(
          service("x", {
            ports: [
              { servicePort: 80, targetPort: 80 },
              { servicePort: 80, targetPort: 81 },
            ],
          }),
        ),
        /twice/,
      ],
      [
        "bad vip",
        asResource(service("x", { vips: [{ network: "", address: "1.2.3" }] })),
        /vips\[0\].address/,
      ],
      [
        "bad lb mode",
        asResource(service("x", { loadBalancing: { mode: "RANDOM" as "STRICT", routingPreference: [] } })),
        /loadBalancing.mode/,
      ],
      [
        "bad cidr",
        asResource(
          authorization("p", { rules: [{ clauses: [{ matches: [{ sourceIps: ["10.0.0.0/40"] }] }] }] }),
        ),
        /sourceIps: invalid CIDR/,
      ],
      [
        "bad string match",
        asResource(
          authorization("p", {
            rules: [
              {
                clauses: [
                  {
                    matches: [{ principals: [{ exact: "a", prefix: "b" }] }],
                  },
                ],
              },
            ],
          }),
        ),
        /exactly one of exact, prefix, suffix, presence/,
      ],
      ["bad action", asResource(authorization("p", { action: "LOG" as "ALLOW" })), /action must be one of/],
      [
        "port-level on namespace scope",
        asResource(peerAuthentication("pa", { portLevelMtls: { 80: "DISABLE" } })),
        /portLevelMtls is only allowed/,
      ],
      ["unknown kind", { kind: "gateway" } as unknown as Resource, /unknown resource kind/],
      ["null workload", { kind: "workload", workload: null } as unknown as Resource, /must be an object/],
    ];
    for (const [name, resource, cause] of cases) {
      const { errors } = applyDelta(emptySnapshot(), { upsert: [resource] });
      assert.equal(errors.length, 1, name);
      assert.match(errors[0]?.error.message ?? "", cause, name);
    }
  });

  void test("the old snapshot is unaffected by later applies", () => {
    const s1 = snapshotOf([api, a1, nsPolicy]);
    const before = JSON.stringify(dump(s1));
    const moved = { ...a1, addresses: ["10.0.0.50"], services: {} };
    const { snapshot: s2 } = applyDelta(s1, { upsert: [asResource(moved)], remove: ["default/n"] });
    assert.equal(JSON.stringify(dump(s1)), before);
    assert.equal(s1.workloadByAddress("", "10.0.0.1")?.name, "a1");
    assert.equal(s2.workloadByAddress("", "10.0.0.1"), undefined);
    assert.equal(s2.workloadByAddress("", "10.0.0.50")?.name, "a1");
    assert.deepEqual(s2.endpoints(svcKey(api)), []);
    assert.equal(s2.version, s1.version + 1);
  });

  void test("removal cleans every index", () => {
    const pa = peerAuthentication("mesh", { namespace: "weft-system" });
    const s1 = snapshotOf([api, a1, a2, global, root, nsPolicy, selector, pa]);
    const { snapshot, errors } = applyDelta(s1, {
      remove: [
        a1.uid,
        a2.uid,
        svcKey(api),
        "security/g",
        "weft-system/r",
        "default/n",
        "default/s",
        "weft-system/mesh",
      ],
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(dump(snapshot), dump(emptySnapshot()));
    assert.equal(snapshot.workloadByAddress("", "fd00::1"), undefined);
    assert.equal(snapshot.serviceByVip("", "fd00:96::10"), undefined);
  });

  void test("a typed removal removes only that kind", () => {
    const svc = service("n", { hostname: "n" }); // key default/n, same as the policy's
    const s1 = snapshotOf([svc, nsPolicy]);
    const { snapshot } = applyDelta(s1, { remove: [{ kind: "authorization", key: "default/n" }] });
    assert.ok(snapshot.service("default/n"));
    assert.equal(snapshot.authorization("default/n"), undefined);
    const { snapshot: both } = applyDelta(s1, { remove: ["default/n"] });
    assert.equal(both.services.size + both.authorizations.size, 0);
  });

  void test("removing an unknown key is not an error and changes nothing", () => {
    const s1 = snapshotOf([a1]);
    const r = applyDelta(s1, { remove: ["nope"] });
    assert.deepEqual(r.errors, []);
    assert.equal(r.snapshot, s1);
  });

  void test("a policy changing scope moves between indexes", () => {
    const s1 = snapshotOf([nsPolicy]);
    const { snapshot } = applyDelta(s1, { upsert: [asResource({ ...nsPolicy, scope: "GLOBAL" })] });
    assert.deepEqual(snapshot.globalAuthorizations, ["default/n"]);
    assert.deepEqual(snapshot.namespaceAuthorizations("default"), []);
  });

  void test("unchanged parts are shared with the previous snapshot", () => {
    const other = service("other");
    const o1 = workload("o1", { addresses: ["10.0.5.1"], services: { [svcKey(other)]: {} } });
    const s1 = snapshotOf([api, a1, other, o1, nsPolicy]);
    const { snapshot: s2 } = applyDelta(s1, { upsert: [asResource({ ...o1, status: "Unhealthy" })] });
    assert.equal(s2.endpoints(svcKey(api)), s1.endpoints(svcKey(api)), "api's endpoint list is reused");
    assert.notEqual(s2.endpoints(svcKey(other)), s1.endpoints(svcKey(other)));
    assert.equal(s2.services, s1.services, "no service changed, the map is reused");
    assert.equal(s2.authorizations, s1.authorizations);
  });

  void test("a change to one of 2000 workloads copies a shard, not the whole index", () => {
    const many = Array.from({ length: 2000 }, (_, i) =>
      workload(`w${i}`, { addresses: [`10.9.${Math.floor(i / 250)}.${i % 250}`] }),
    );
    const s1 = snapshotOf(many);
    const changed = many[1234]!;
    const { snapshot: s2 } = applyDelta(s1, { upsert: [asResource({ ...changed, status: "Unhealthy" })] });
    assert.equal(s2.workload(changed.uid)?.status, "Unhealthy");
    assert.equal(s1.workload(changed.uid)?.status, "Healthy", "the previous version is untouched");
    assert.equal(s2.workloads.size, 2000);
    const shards = (m: ReadonlyMap<string, unknown>): readonly unknown[] =>
      (m as unknown as { shards: unknown[] }).shards;
    const copied = shards(s2.workloads).filter((shard, i) => shard !== shards(s1.workloads)[i]).length;
    assert.equal(copied, 1, "only the changed key's shard is new");
    assert.deepEqual([...s2.workloads.keys()].sort(), [...s1.workloads.keys()].sort());
  });

  void test("the last of two workloads claiming one address wins, and removing the loser keeps it", () => {
    const x = workload("x", { addresses: ["10.0.7.7"] });
    const y = workload("y", { addresses: ["10.0.7.7"] });
    const s1 = snapshotOf([x, y]);
    assert.equal(s1.workloadByAddress("", "10.0.7.7")?.name, "y");
    const { snapshot } = applyDelta(s1, { remove: [x.uid] });
    assert.equal(snapshot.workloadByAddress("", "10.0.7.7")?.name, "y");
  });

  void test("removal and upsert of one key in a delta: the upsert wins", () => {
    const s1 = snapshotOf([a1]);
    const { snapshot } = applyDelta(s1, {
      remove: [a1.uid],
      upsert: [asResource({ ...a1, node: "node-z" })],
    });
    assert.equal(snapshot.workload(a1.uid)?.node, "node-z");
  });

  void test("input objects are not mutated, and stored copies carry canonical addresses", () => {
    const w: Workload = workload("c", { addresses: ["FD00::0:C"] });
    const frozen = Object.freeze({ ...w, addresses: Object.freeze([...w.addresses]) });
    const s = snapshotOf([frozen]);
    assert.deepEqual(frozen.addresses, ["FD00::0:C"]);
    assert.deepEqual(s.workload(w.uid)?.addresses, ["fd00::c"]);
  });
});

void describe("StateStore", () => {
  void test("apply swaps the snapshot and tells listeners (next, previous)", () => {
    const store = new StateStore();
    const seen: [number, number][] = [];
    const off = store.onChange((next, prev) => seen.push([next.version, prev.version]));
    const errors = store.apply({ upsert: [asResource(a1)] });
    assert.deepEqual(errors, []);
    assert.equal(store.current.version, 1);
    assert.ok(store.current.workload(a1.uid));
    off();
    store.apply({ remove: [a1.uid] });
    assert.deepEqual(seen, [[1, 0]]);
    assert.equal(store.current.workloads.size, 0);
  });

  void test("swapping to the same snapshot notifies no one", () => {
    const store = new StateStore();
    let calls = 0;
    store.onChange(() => calls++);
    store.apply({ remove: ["nothing"] });
    assert.equal(calls, 0);
  });

  void test("a throwing listener does not stop the others or the swap", () => {
    const store = new StateStore();
    let reached = false;
    store.onChange(() => {
      throw new Error("boom");
    });
    store.onChange(() => {
      reached = true;
    });
    const next = applyDelta(store.current, { upsert: [asResource(a1)] }).snapshot;
    assert.throws(() => store.swap(next), AggregateError);
    assert.equal(store.current, next);
    assert.equal(reached, true);
  });
});
