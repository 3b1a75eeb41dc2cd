import assert from "node:assert/strict";
import { test } from "node:test";
import { localityRank, pickAddress, selectEndpoint, targetPortFor } from "../src/decisions/endpoints.js";
import { service, snapshotOf, svcKey, workload } from "./fixtures.js";

const src = workload("src", {
  node: "n1",
  locality: { region: "r1", zone: "z1", subzone: "s1" },
  clusterId: "c1",
});

void test("localityRank counts the matching prefix of the preferences", () => {
  const prefs = ["REGION", "ZONE", "SUBZONE", "NODE"] as const;
  const at = (region: string, zone: string, subzone: string, node: string): number =>
    localityRank(src, workload("t", { node, locality: { region, zone, subzone } }), prefs);
  assert.equal(at("r1", "z1", "s1", "n1"), 4);
  assert.equal(at("r1", "z1", "s1", "n2"), 3);
  assert.equal(at("r1", "z1", "s2", "n1"), 2, "a node match after a subzone mismatch does not count");
  assert.equal(at("r1", "z2", "s1", "n1"), 1);
  assert.equal(at("r2", "z1", "s1", "n1"), 0);
  assert.equal(localityRank(src, workload("t", { clusterId: "c2" }), ["CLUSTER"]), 0);
  assert.equal(localityRank(src, workload("t", { clusterId: "c1" }), ["NETWORK", "CLUSTER"]), 2);
  assert.equal(localityRank(src, src, []), 0);
});

void test("targetPortFor: workload mapping, then service target port, else none", () => {
  const svc = service("s", {
    ports: [
      { servicePort: 80, targetPort: 8080 },
      { servicePort: 443, targetPort: 0 },
    ],
  });
  assert.equal(targetPortFor(svc, {}, 80), 8080);
  assert.equal(targetPortFor(svc, { 80: 9000 }, 80), 9000);
  assert.equal(targetPortFor(svc, { 80: 0 }, 80), 8080);
  assert.equal(targetPortFor(svc, {}, 443), undefined);
  assert.equal(targetPortFor(svc, { 443: 8443 }, 443), 8443);
  assert.equal(targetPortFor(svc, {}, 81), undefined);
});

void test("pickAddress prefers the dialled family and falls back to the first address", () => {
  const dual = workload("d", { addresses: ["10.0.0.1", "fd00::1"] });
  assert.equal(pickAddress(dual, 6), "fd00::1");
  assert.equal(pickAddress(dual, 4), "10.0.0.1");
  assert.equal(pickAddress(workload("v4", { addresses: ["10.0.0.2"] }), 6), "10.0.0.2");
  assert.equal(pickAddress(workload("none"), 4), undefined);
});

void test("selectEndpoint is deterministic for a given random value and reports why it fails", () => {
  const svc = service("s");
  const members = ["m1", "m2", "m3"].map((n, i) =>
    workload(n, { addresses: [`10.0.1.${i + 1}`], services: { [svcKey(svc)]: {} } }),
  );
  const snapshot = snapshotOf([svc, ...members]);
  const endpoints = snapshot.endpoints(svcKey(svc));
  const pick = (r: number): string | undefined => {
    const sel = selectEndpoint({ service: svc, endpoints, source: src, servicePort: 80, random: () => r });
    return sel.ok ? sel.endpoint.workload.name : sel.reason;
  };
  assert.deepEqual([0, 0.34, 0.67, 0.999999].map(pick), ["m1", "m2", "m3", "m3"]);
  assert.equal(pick(1), "m3", "an out-of-range random value is clamped");
  const noAddress = snapshotOf([svc, workload("ghost", { services: { [svcKey(svc)]: {} } })]);
  const sel = selectEndpoint({
    service: svc,
    endpoints: noAddress.endpoints(svcKey(svc)),
    source: src,
    servicePort: 80,
    random: () => 0,
  });
  assert.deepEqual(sel.ok ? "ok" : sel.reason, "NO_HEALTHY_UPSTREAM");
  const noPort = selectEndpoint({ service: svc, endpoints, source: src, servicePort: 81, random: () => 0 });
  assert.deepEqual(noPort.ok ? "ok" : noPort.reason, "NO_PORT_MAPPING");
  const anyPort = selectEndpoint({ service: svc, endpoints, source: src, random: () => 0 });
  assert.ok(anyPort.ok && anyPort.targetPort === 0, "without a service port, no port filtering");
});
