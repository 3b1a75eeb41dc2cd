import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  authorizeCertificateRequest,
  type AuthorizeInput,
  type Caller,
  type PodFacts,
} from "../src/ca/index.js";

const TD = "cluster.local";
const ZTUNNEL = "weft-system/ztunnel";
const id = (ns: string, sa: string): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

const workload: Caller = { namespace: "shop", serviceAccount: "cart", podName: "cart-1", nodeName: "node-a" };
const ztunnelA: Caller = {
  namespace: "weft-system",
  serviceAccount: "ztunnel",
  podName: "ztunnel-a",
  nodeName: "node-a",
};
const ztunnelNoNode: Caller = { namespace: "weft-system", serviceAccount: "ztunnel" };

const pods: PodFacts[] = [
  { namespace: "shop", name: "cart-1", serviceAccount: "cart", nodeName: "node-a", phase: "Running" },
  { namespace: "shop", name: "pay-1", serviceAccount: "payments", nodeName: "node-b", phase: "Running" },
  { namespace: "shop", name: "pay-2", serviceAccount: "payments", nodeName: "node-c", phase: "Running" },
  { namespace: "shop", name: "batch-1", serviceAccount: "batch", nodeName: "node-a", phase: "Succeeded" },
  { namespace: "shop", name: "batch-2", serviceAccount: "batch", nodeName: "node-a", phase: "Failed" },
  { namespace: "shop", name: "starting-1", serviceAccount: "starting", nodeName: "node-a", phase: "Pending" },
  { namespace: "shop", name: "unsched-1", serviceAccount: "unscheduled", phase: "Pending" },
  { namespace: "other", name: "cart-x", serviceAccount: "cart", nodeName: "node-a", phase: "Running" },
];

type Expect =
  | { allowed: true; identity: string; impersonated: boolean }
  | { allowed: false; status: "UNAUTHENTICATED" | "PERMISSION_DENIED"; reason: string; message: RegExp };

const rows: { name: string; input: Partial<AuthorizeInput>; expect: Expect }[] = [
  {
    name: "no caller → UNAUTHENTICATED",
    input: { caller: undefined },
    expect: { allowed: false, status: "UNAUTHENTICATED", reason: "token_missing", message: /Bearer <token>/ },
  },
  {
    name: "workload asks for its own identity (no impersonation) → allowed",
    input: { caller: workload },
    expect: { allowed: true, identity: id("shop", "cart"), impersonated: false },
  },
  {
    name: "workload names its own identity explicitly → allowed, not impersonation",
    input: { caller: workload, requestedIdentity: id("shop", "cart") },
    expect: { allowed: true, identity: id("shop", "cart"), impersonated: false },
  },
  {
    name: "empty ImpersonatedIdentity means own identity",
    input: { caller: workload, requestedIdentity: "" },
    expect: { allowed: true, identity: id("shop", "cart"), impersonated: false },
  },
  {
    name: "workload asks for another identity → denied, not a node agent",
    input: { caller: workload, requestedIdentity: id("shop", "payments") },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "impersonation_not_allowed",
      message: /only trusted node agents.*shop\/cart is not in the trusted node agents list/,
    },
  },
  {
    name: "workload on the same node as the target still may not impersonate",
    input: { caller: workload, requestedIdentity: id("shop", "starting") },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "impersonation_not_allowed",
      message: /drop the ImpersonatedIdentity/,
    },
  },
  {
    name: "node agent, target SA has a running pod on its node → allowed",
    input: { caller: ztunnelA, requestedIdentity: id("shop", "cart") },
    expect: { allowed: true, identity: id("shop", "cart"), impersonated: true },
  },
  {
    name: "node agent, target SA has a Pending pod scheduled on its node → allowed (pod is starting)",
    input: { caller: ztunnelA, requestedIdentity: id("shop", "starting") },
    expect: { allowed: true, identity: id("shop", "starting"), impersonated: true },
  },
  {
    name: "node agent, target SA's pods are on other nodes → denied, naming them",
    input: { caller: ztunnelA, requestedIdentity: id("shop", "payments") },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "impersonation_no_pod_on_node",
      message: /node-a.*shop\/payments.*its pods are on node-b, node-c/,
    },
  },
  {
    name: "node agent, target SA's only pods on its node are terminated → denied",
    input: { caller: ztunnelA, requestedIdentity: id("shop", "batch") },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "impersonation_no_pod_on_node",
      message: /it has no running pods/,
    },
  },
  {
    name: "node agent, target SA's pod is not scheduled yet → denied",
    input: { caller: ztunnelA, requestedIdentity: id("shop", "unscheduled") },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "impersonation_no_pod_on_node",
      message: /no running pod/,
    },
  },
  {
    name: "same SA name in another namespace does not count",
    input: {
      caller: ztunnelA,
      requestedIdentity: id("shop", "cart"),
      pods: pods.filter((p) => !(p.namespace === "shop" && p.serviceAccount === "cart")),
    },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "impersonation_no_pod_on_node",
      message: /shop\/cart/,
    },
  },
  {
    name: "node agent whose token names no node → denied, asks for a pod-bound token",
    input: { caller: ztunnelNoNode, requestedIdentity: id("shop", "cart") },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "impersonation_no_node",
      message: /pod-bound projected/,
    },
  },
  {
    name: "node agent SA not configured as trusted → denied",
    input: {
      caller: ztunnelA,
      requestedIdentity: id("shop", "cart"),
      trustedNodeAgents: ["kube-system/other-agent"],
    },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "impersonation_not_allowed",
      message: /weft-system\/ztunnel is not in/,
    },
  },
  {
    name: "trusted node agents may be given as a Set",
    input: { caller: ztunnelA, requestedIdentity: id("shop", "cart"), trustedNodeAgents: new Set([ZTUNNEL]) },
    expect: { allowed: true, identity: id("shop", "cart"), impersonated: true },
  },
  {
    name: "identity in a foreign trust domain → denied",
    input: { caller: ztunnelA, requestedIdentity: "spiffe://evil.example/ns/shop/sa/cart" },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "identity_foreign_trust_domain",
      message: /trust domain "evil\.example".*issues only "cluster\.local"/,
    },
  },
  {
    name: "malformed identity → denied with the expected form",
    input: { caller: ztunnelA, requestedIdentity: "spiffe://cluster.local/ns/shop" },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "identity_invalid",
      message: /spiffe:\/\/<trust domain>\/ns\//,
    },
  },
  {
    name: "identity with extra path segments → denied",
    input: { caller: ztunnelA, requestedIdentity: "spiffe://cluster.local/ns/shop/sa/cart/extra" },
    expect: {
      allowed: false,
      status: "PERMISSION_DENIED",
      reason: "identity_invalid",
      message: /is not of the form/,
    },
  },
];

void describe("authorizeCertificateRequest", () => {
  for (const row of rows) {
    void it(row.name, () => {
      const input: AuthorizeInput = {
        caller: "caller" in row.input ? row.input.caller : workload,
        trustDomain: TD,
        pods,
        trustedNodeAgents: [ZTUNNEL],
        ...row.input,
      };
      const got = authorizeCertificateRequest(input);
      if (row.expect.allowed) {
        assert.deepEqual(got, row.expect);
      } else {
        assert.equal(got.allowed, false);
        if (got.allowed) return;
        assert.equal(got.status, row.expect.status);
        assert.equal(got.reason, row.expect.reason);
        assert.match(got.message, row.expect.message);
      }
    });
  }
});

void describe("authorizeCertificateRequest properties", () => {
  const name = fc.constantFrom("a", "b", "shop", "weft-system");
  const sa = fc.constantFrom("x", "y", "ztunnel", "cart");
  const node = fc.constantFrom("node-a", "node-b", undefined);
  const phase = fc.constantFrom("Pending", "Running", "Succeeded", "Failed", "Unknown", undefined);
  const callerArb = fc
    .record({ namespace: name, serviceAccount: sa, nodeName: node })
    .map(({ nodeName, ...rest }): Caller => (nodeName === undefined ? rest : { ...rest, nodeName }));
  const podArb = fc.record({
    namespace: name,
    name: fc.constant("p"),
    serviceAccount: sa,
    nodeName: node,
    phase,
  });
  const requestedArb = fc.oneof(
    fc.constant(undefined),
    fc.tuple(name, sa).map(([n, s]) => id(n, s)),
    fc.tuple(name, sa).map(([n, s]) => `spiffe://other.domain/ns/${n}/sa/${s}`),
    fc.string(),
  );

  void it("only trusted node agents ever get an identity other than their own, and only for pods on their node", () => {
    fc.assert(
      fc.property(
        callerArb,
        requestedArb,
        fc.array(podArb, { maxLength: 6 }),
        (caller, requested, podList) => {
          const cleanPods = podList.map((p) => {
            const out: PodFacts = { namespace: p.namespace, name: p.name, serviceAccount: p.serviceAccount };
            return {
              ...out,
              ...(p.nodeName !== undefined ? { nodeName: p.nodeName } : {}),
              ...(p.phase !== undefined ? { phase: p.phase } : {}),
            };
          });
          const got = authorizeCertificateRequest({
            caller,
            trustDomain: TD,
            pods: cleanPods,
            trustedNodeAgents: [ZTUNNEL],
            ...(requested !== undefined ? { requestedIdentity: requested } : {}),
          });
          if (!got.allowed) return;
          const own = id(caller.namespace, caller.serviceAccount);
          if (got.identity === own) return;
          assert.equal(
            `${caller.namespace}/${caller.serviceAccount}`,
            ZTUNNEL,
            "only the node agent impersonates",
          );
          assert.equal(got.impersonated, true);
          assert.ok(got.identity.startsWith(`spiffe://${TD}/`), "never a foreign trust domain");
          assert.ok(
            cleanPods.some(
              (p) =>
                id(p.namespace, p.serviceAccount) === got.identity &&
                p.nodeName === caller.nodeName &&
                caller.nodeName !== undefined &&
                p.phase !== "Succeeded" &&
                p.phase !== "Failed",
            ),
            "a live pod of that identity is on the caller's node",
          );
        },
      ),
      { numRuns: 2000 },
    );
  });
});
