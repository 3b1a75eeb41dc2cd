import { test } from "node:test";
import assert from "node:assert/strict";
import { durationToMs, formatPath, isIpOrCidr, objectKey, validateObject } from "../src/k8s/index.js";

const policy = (spec: unknown) => ({
  apiVersion: "weft.dev/v1alpha1",
  kind: "AuthorizationPolicy",
  metadata: { name: "p", namespace: "ns" },
  spec,
});

/** [description, object, expected path, regexp the fix must match] */
const INVALID: [string, unknown, string, RegExp][] = [
  ["not an object", "text", "(object)", /apiVersion, kind/],
  ["no kind", { apiVersion: "v1", metadata: { name: "x" } }, "kind", /kind: Pod/],
  [
    "wrong apiVersion",
    { apiVersion: "v2", kind: "Pod", metadata: { name: "x" } },
    "apiVersion",
    /apiVersion: v1/,
  ],
  [
    "bad name",
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "Bad_Name" } },
    "metadata.name",
    /lowercase/,
  ],
  [
    "empty principal",
    policy({ rules: [{ from: [{ source: {} }, { source: { principals: ["a", "b", ""] } }] }] }),
    "spec.rules[0].from[1].source.principals[2]",
    /remove the entry/,
  ],
  [
    "spiffe:// principal",
    policy({ rules: [{ from: [{ source: { principals: ["spiffe://cluster.local/ns/a/sa/b"] } }] }] }),
    "spec.rules[0].from[0].source.principals[0]",
    /<trustDomain>\/ns/,
  ],
  [
    "bad ipBlock",
    policy({ rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/33"] } }] }] }),
    "spec.rules[0].from[0].source.ipBlocks[0]",
    /CIDR/,
  ],
  [
    "bad port",
    policy({ rules: [{ to: [{ operation: { ports: ["http"] } }] }] }),
    "spec.rules[0].to[0].operation.ports[0]",
    /1 to 65535/,
  ],
  ["bad action", policy({ action: "LOG" }), "spec.action", /ALLOW, DENY, AUDIT/],
  [
    "selector and targetRefs",
    policy({ selector: { matchLabels: { a: "b" } }, targetRefs: [{ kind: "Service", name: "s" }] }),
    "spec.targetRefs",
    /keep one/,
  ],
  [
    "targetRef kind",
    policy({ targetRefs: [{ kind: "Pod", name: "s" }] }),
    "spec.targetRefs[0].kind",
    /Service/,
  ],
  [
    "label value not a string",
    { apiVersion: "v1", kind: "Pod", metadata: { name: "p", labels: { port: 8080 } } },
    "metadata.labels.port",
    /quote/,
  ],
  [
    "named targetPort empty",
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { ports: [{ port: 80, targetPort: "" }] },
    },
    "spec.ports[0].targetPort",
    /container port name/,
  ],
  [
    "missing port",
    { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { ports: [{ name: "http" }] } },
    "spec.ports[0].port",
    /add spec\.ports\[0\]\.port/,
  ],
  [
    "portLevelMtls without selector",
    {
      apiVersion: "weft.dev/v1alpha1",
      kind: "PeerAuthentication",
      metadata: { name: "p", namespace: "n" },
      spec: { portLevelMtls: { "8080": { mode: "STRICT" } } },
    },
    "spec.portLevelMtls",
    /selector/,
  ],
  [
    "RING_HASH without a key",
    {
      apiVersion: "weft.dev/v1alpha1",
      kind: "TrafficPolicy",
      metadata: { name: "t", namespace: "n" },
      spec: { targetRef: { kind: "Service", name: "s" }, loadBalancer: { algorithm: "RING_HASH" } },
    },
    "spec.loadBalancer.hashKey",
    /hashKey/,
  ],
  [
    "bad duration",
    {
      apiVersion: "weft.dev/v1alpha1",
      kind: "TrafficPolicy",
      metadata: { name: "t", namespace: "n" },
      spec: { targetRef: { kind: "Service", name: "s" }, outlierDetection: { interval: "10 seconds" } },
    },
    "spec.outlierDetection.interval",
    /1m30s/,
  ],
  [
    "short token",
    {
      apiVersion: "weft.dev/v1alpha1",
      kind: "WeftTokenList",
      metadata: { name: "t" },
      tokens: [{ token: "short", serviceAccount: "a/b" }],
    },
    "tokens[0].token",
    /openssl rand/,
  ],
];

for (const [what, obj, path, fix] of INVALID) {
  void test(`invalid: ${what}`, () => {
    const r = validateObject(obj);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const p = r.problems.find((x) => x.path === path);
    assert.ok(p, `no problem at ${path}; got ${r.problems.map((x) => `${x.path}: ${x.message}`).join("; ")}`);
    assert.match(p.fix, fix);
    assert.notEqual(p.message, "");
  });
}

void test("unknown kinds are flagged as such, not as errors of a known kind", () => {
  const r = validateObject({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" } });
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.unknownKind, true);
});

void test("unknown fields pass through without failing; defaults applied", () => {
  const r = validateObject({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", annotations: { a: "b" }, ownerReferences: [{ kind: "ReplicaSet" }] },
    spec: {
      containers: [{ name: "c", image: "busybox", ports: [{ containerPort: 80, hostPort: 80 }] }],
      dnsPolicy: "x",
    },
    status: { podIP: "10.0.0.1", hostIP: "192.168.1.1" },
  });
  assert.equal(r.ok, true);
  if (!r.ok) return;
  assert.equal(r.object.metadata.namespace, "default");
  assert.deepEqual((r.object.metadata as Record<string, unknown>)["ownerReferences"], [
    { kind: "ReplicaSet" },
  ]);
  assert.equal(objectKey(r.object), "Pod/default/p");
});

void test("cluster-scoped objects drop a namespace; AuthorizationPolicy defaults to ALLOW", () => {
  const ns = validateObject({ apiVersion: "v1", kind: "Namespace", metadata: { name: "a", namespace: "b" } });
  assert.ok(ns.ok);
  if (ns.ok) assert.equal(objectKey(ns.object), "Namespace/a");
  const p = validateObject(policy(undefined));
  assert.ok(p.ok);
  if (p.ok && p.object.kind === "AuthorizationPolicy") {
    assert.equal(p.object.spec.action, "ALLOW");
    assert.deepEqual(p.object.spec.rules, []);
  }
});

void test("helpers: formatPath, isIpOrCidr, durationToMs", () => {
  assert.equal(formatPath(["spec", "rules", 0, "from", 1]), "spec.rules[0].from[1]");
  assert.equal(
    formatPath(["metadata", "labels", "app.kubernetes.io/name"]),
    'metadata.labels["app.kubernetes.io/name"]',
  );
  assert.equal(isIpOrCidr("10.0.0.0/8"), true);
  assert.equal(isIpOrCidr("fd00::/64"), true);
  assert.equal(isIpOrCidr("fd00::/129"), false);
  assert.equal(isIpOrCidr("10.0.0.1"), true);
  assert.equal(isIpOrCidr("10.0.0.0/"), false);
  assert.equal(durationToMs("1h2m3s4ms"), 3_723_004);
  assert.equal(durationToMs("250ms"), 250);
});
