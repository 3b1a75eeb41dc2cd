import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import {
  CertificateAuthority,
  buildTokenTable,
  fingerprint,
  parseCertificates,
  tokenTableAuthenticator,
  uriSans,
  type CaEvent,
  type PodFacts,
  type SigningAuthority,
} from "../src/ca/index.js";
import { HOUR, TD, makeCsr, newRoot, rejectsWith, spiffe } from "./ca-testkit.js";

const CART_TOKEN = "cart-token-0123456789abcdef";
const ZT_A_TOKEN = "ztunnel-a-token-0123456789abcdef";
const EXPIRED_TOKEN = "expired-token-0123456789abcdef";
const NOW = new Date("2031-03-01T12:00:00Z");

const tokens = buildTokenTable([
  { token: CART_TOKEN, namespace: "shop", serviceAccount: "cart", podName: "cart-1", nodeName: "node-a" },
  {
    token: ZT_A_TOKEN,
    namespace: "weft-system",
    serviceAccount: "ztunnel",
    podName: "ztunnel-a",
    nodeName: "node-a",
  },
  { token: EXPIRED_TOKEN, namespace: "shop", serviceAccount: "cart", expiresAt: "2031-01-01T00:00:00Z" },
]);

const pods: PodFacts[] = [
  { namespace: "shop", name: "cart-1", serviceAccount: "cart", nodeName: "node-a", phase: "Running" },
  { namespace: "shop", name: "pay-1", serviceAccount: "payments", nodeName: "node-b", phase: "Running" },
  { namespace: "shop", name: "web-1", serviceAccount: "web", nodeName: "node-a", phase: "Running" },
];

function makeCa(
  authority: SigningAuthority,
  events: CaEvent[],
  extra: { maxTtlSeconds?: number } = {},
): CertificateAuthority {
  return new CertificateAuthority({
    authority,
    trustDomain: TD,
    authenticate: tokenTableAuthenticator(tokens),
    podsOf: (ns, sa) => pods.filter((p) => p.namespace === ns && p.serviceAccount === sa),
    trustedNodeAgents: ["weft-system/ztunnel"],
    onEvent: (e) => events.push(e),
    clock: () => NOW,
    ...extra,
  });
}

void describe("CertificateAuthority.createCertificate", () => {
  let root: SigningAuthority;
  before(async () => {
    root = await newRoot(new Date("2031-01-01T00:00:00Z"));
  });

  void it("issues a workload its own identity; chain leaf → root verifies against the bundle; counts it", async () => {
    const events: CaEvent[] = [];
    const ca = makeCa(root, events);
    const { csrPem } = await makeCsr([spiffe("shop", "cart")]);
    const { certChain } = await ca.createCertificate({
      authorization: `Bearer ${CART_TOKEN}`,
      csrPem,
      validitySeconds: 0,
    });
    const leaf = parseCertificates(certChain[0]!)[0]!;
    assert.deepEqual(uriSans(leaf), [spiffe("shop", "cart")]);
    assert.equal(certChain.at(-1), root.issuerChainPem[0]);
    const verdict = await ca.trustBundle.verifyChain(certChain[0]!, certChain.slice(1), NOW);
    assert.ok(verdict.ok, verdict.ok ? "" : verdict.why);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, "issued");
    if (events[0]?.type === "issued") {
      assert.equal(events[0].identity, spiffe("shop", "cart"));
      assert.equal(events[0].impersonated, false);
      assert.equal(events[0].serial, leaf.serialNumber);
    }
  });

  void it("caps the requested validity at the configured maximum", async () => {
    const ca = makeCa(root, [], { maxTtlSeconds: 2 * HOUR });
    const { csrPem } = await makeCsr([spiffe("shop", "cart")]);
    const { certChain } = await ca.createCertificate({
      authorization: `Bearer ${CART_TOKEN}`,
      csrPem,
      validitySeconds: 30 * 24 * HOUR,
    });
    const leaf = parseCertificates(certChain[0]!)[0]!;
    assert.equal((leaf.notAfter.getTime() - NOW.getTime()) / 1000, 2 * HOUR);
  });

  void it("lets the node agent get a certificate for a pod on its node", async () => {
    const events: CaEvent[] = [];
    const ca = makeCa(root, events);
    const { csrPem } = await makeCsr([spiffe("shop", "web")]);
    const { certChain } = await ca.createCertificate({
      authorization: `Bearer ${ZT_A_TOKEN}`,
      csrPem,
      impersonatedIdentity: spiffe("shop", "web"),
    });
    assert.deepEqual(uriSans(parseCertificates(certChain[0]!)[0]!), [spiffe("shop", "web")]);
    assert.equal(events[0]?.type === "issued" && events[0].impersonated, true);
  });

  void describe("refusals carry the right code and reason, and are counted", () => {
    const cases: {
      name: string;
      authorization: string | undefined;
      san: string;
      impersonate?: string;
      code: string;
      reason: string;
      message: RegExp;
    }[] = [
      {
        name: "no token",
        authorization: undefined,
        san: spiffe("shop", "cart"),
        code: "WEFT_E_CA_UNAUTHENTICATED",
        reason: "token_missing",
        message: /no bearer token/,
      },
      {
        name: "unknown token",
        authorization: "Bearer not-a-real-token-0123456789",
        san: spiffe("shop", "cart"),
        code: "WEFT_E_CA_UNAUTHENTICATED",
        reason: "token_unknown",
        message: /not known to the CA/,
      },
      {
        name: "expired token",
        authorization: `Bearer ${EXPIRED_TOKEN}`,
        san: spiffe("shop", "cart"),
        code: "WEFT_E_CA_UNAUTHENTICATED",
        reason: "token_expired",
        message: /expired at 2031-01-01/,
      },
      {
        name: "CSR for someone else's identity",
        authorization: `Bearer ${CART_TOKEN}`,
        san: spiffe("shop", "payments"),
        code: "WEFT_E_CA_PERMISSION_DENIED",
        reason: "csr_san_refused",
        message: /uri:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/payments/,
      },
      {
        name: "impersonation by a workload (not a node agent)",
        authorization: `Bearer ${CART_TOKEN}`,
        san: spiffe("shop", "web"),
        impersonate: spiffe("shop", "web"),
        code: "WEFT_E_CA_PERMISSION_DENIED",
        reason: "impersonation_not_allowed",
        message: /only trusted node agents/,
      },
      {
        name: "node agent impersonating an SA whose pods are on another node",
        authorization: `Bearer ${ZT_A_TOKEN}`,
        san: spiffe("shop", "payments"),
        impersonate: spiffe("shop", "payments"),
        code: "WEFT_E_CA_PERMISSION_DENIED",
        reason: "impersonation_no_pod_on_node",
        message: /node-a.*its pods are on node-b/,
      },
      {
        name: "node agent impersonating, CSR naming a different SAN than impersonated",
        authorization: `Bearer ${ZT_A_TOKEN}`,
        san: spiffe("shop", "cart"),
        impersonate: spiffe("shop", "web"),
        code: "WEFT_E_CA_PERMISSION_DENIED",
        reason: "csr_san_refused",
        message: /may only hold URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web/,
      },
    ];
    for (const c of cases) {
      void it(c.name, async () => {
        const events: CaEvent[] = [];
        const ca = makeCa(root, events);
        const { csrPem } = await makeCsr([c.san]);
        await rejectsWith(
          ca.createCertificate({
            authorization: c.authorization,
            csrPem,
            ...(c.impersonate !== undefined ? { impersonatedIdentity: c.impersonate } : {}),
          }),
          c.code,
          c.message,
        );
        assert.deepEqual(
          events.map((e) => (e.type === "refused" ? [e.type, e.code, e.reason] : [e.type])),
          [["refused", c.code, c.reason]],
        );
      });
    }

    void it("a malformed CSR from an authenticated caller", async () => {
      const events: CaEvent[] = [];
      const ca = makeCa(root, events);
      await rejectsWith(
        ca.createCertificate({
          authorization: `Bearer ${CART_TOKEN}`,
          csrPem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
        }),
        "WEFT_E_CA_BAD_CSR",
        /does not parse as PKCS#10/,
      );
      assert.equal(events[0]?.type === "refused" && events[0].reason, "csr_unparsable");
    });
  });

  void it("a throwing metrics hook does not fail issuance", async () => {
    const ca = new CertificateAuthority({
      authority: root,
      trustDomain: TD,
      authenticate: tokenTableAuthenticator(tokens),
      podsOf: () => [],
      trustedNodeAgents: [],
      clock: () => NOW,
      onEvent: () => {
        throw new Error("metrics broke");
      },
    });
    const { csrPem } = await makeCsr([spiffe("shop", "cart")]);
    const { certChain } = await ca.createCertificate({ authorization: `Bearer ${CART_TOKEN}`, csrPem });
    assert.equal(certChain.length, 2);
  });
});

void describe("CertificateAuthority.rotateRoot", () => {
  void it("keeps old leaves verifying during the overlap, signs new leaves with the new root, retires the old root", async () => {
    const events: CaEvent[] = [];
    const oldRoot = await newRoot(new Date("2031-01-01T00:00:00Z"));
    const newRootCa = await newRoot(new Date("2031-02-01T00:00:00Z"));
    const ca = makeCa(oldRoot, events);
    const issue = async (): Promise<string[]> => {
      const { csrPem } = await makeCsr([spiffe("shop", "cart")]);
      return (await ca.createCertificate({ authorization: `Bearer ${CART_TOKEN}`, csrPem })).certChain;
    };
    const before = await issue();

    ca.rotateRoot(newRootCa);
    assert.deepEqual(ca.trustBundle.fingerprints, [fingerprint(oldRoot.root), fingerprint(newRootCa.root)]);
    assert.deepEqual(events.at(-1), {
      type: "trust_bundle_changed",
      fingerprints: [fingerprint(oldRoot.root), fingerprint(newRootCa.root)],
    });
    const after = await issue();
    assert.equal(after.at(-1), newRootCa.issuerChainPem[0], "new leaves chain to the new root");

    for (const chain of [before, after]) {
      const verdict = await ca.trustBundle.verifyChain(chain[0]!, chain.slice(1), NOW);
      assert.ok(verdict.ok, verdict.ok ? "" : verdict.why);
    }
    assert.throws(() => ca.retireRoot(newRootCa.root), /currently signing/);
    assert.equal(ca.retireRoot(fingerprint(oldRoot.root)), true);
    const old = await ca.trustBundle.verifyChain(before[0]!, before.slice(1), NOW);
    assert.equal(old.ok, false, "after retirement the old root's leaves no longer verify");
    assert.ok((await ca.trustBundle.verifyChain(after[0]!, after.slice(1), NOW)).ok);
  });
});
