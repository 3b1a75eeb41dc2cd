import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  TrustBundle,
  fingerprint,
  issueIntermediate,
  loadRoot,
  parseCertificates,
  signCsr,
  type SigningAuthority,
} from "../src/ca/index.js";
import { importSigningKeyPem } from "../src/ca/keys.js";
import { TD, makeCsr, newRoot, rejectsWith, spiffe } from "./ca-testkit.js";

const ID = spiffe("shop", "cart");

async function leafOf(ca: Awaited<ReturnType<typeof newRoot>>, now?: Date): Promise<string[]> {
  const { csrPem } = await makeCsr([ID]);
  return (await signCsr(ca, { csrPem, identity: ID, ...(now !== undefined ? { now } : {}) })).certChain;
}

void describe("TrustBundle", () => {
  void it("dedupes by fingerprint, concatenates PEM in insertion order, removes by fingerprint", async () => {
    const a = await newRoot();
    const b = await newRoot();
    const bundle = new TrustBundle();
    assert.deepEqual(bundle.add(a.root), [fingerprint(a.root)]);
    assert.deepEqual(bundle.add(a.root.toString("pem")), [], "same root again is ignored");
    bundle.add(b.root);
    assert.equal(bundle.size, 2);
    const pem = bundle.toPem();
    assert.deepEqual(
      parseCertificates(pem).map(fingerprint),
      [fingerprint(a.root), fingerprint(b.root)],
      "oldest first",
    );
    assert.equal(TrustBundle.fromPem(pem + pem).size, 2);
    assert.equal(bundle.remove(fingerprint(a.root).toUpperCase()), true);
    assert.equal(bundle.remove(a.root), false);
    assert.deepEqual(bundle.fingerprints, [fingerprint(b.root)]);
  });

  void it("refuses a leaf as a trust anchor", async () => {
    const ca = await newRoot();
    const [leaf] = await leafOf(ca);
    assert.throws(() => new TrustBundle().add(leaf!), /not a CA certificate/);
  });

  void it("with two roots, verifies leaves from either and names the root used", async () => {
    const a = await newRoot();
    const b = await newRoot();
    const bundle = new TrustBundle([a.root, b.root]);
    for (const ca of [a, b]) {
      const chain = await leafOf(ca);
      const verdict = await bundle.verifyChain(chain[0]!, chain.slice(1));
      assert.ok(verdict.ok, verdict.ok ? "" : verdict.why);
      assert.equal(verdict.rootFingerprint, fingerprint(ca.root));
    }
    // Both roots have the same subject: a leaf of a third root must still fail on signature.
    const c = await newRoot();
    const foreign = await leafOf(c);
    assert.equal(c.root.subject, a.root.subject);
    const verdict = await bundle.verifyChain(foreign[0]!, []);
    assert.equal(verdict.ok, false);
    assert.match(
      verdict.ok ? "" : verdict.why,
      /no certificate in the chain or the trust bundle signed.*holds 2 root/,
    );
  });

  void it("does not accept a root supplied in the chain instead of the bundle", async () => {
    const a = await newRoot();
    const b = await newRoot();
    const chain = await leafOf(b);
    const verdict = await new TrustBundle([a.root]).verifyChain(chain[0]!, chain.slice(1));
    assert.equal(verdict.ok, false, "b's root is in the chain but not trusted");
  });

  void it("refuses expired leaves and not-yet-valid ones", async () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const ca = await newRoot(new Date("2029-01-01T00:00:00Z"));
    const chain = await leafOf(ca, now);
    const bundle = new TrustBundle([ca.root]);
    const later = await bundle.verifyChain(chain[0]!, [], new Date("2030-01-02T00:00:01Z"));
    assert.match(later.ok ? "" : later.why, /expired at 2030-01-02T00:00:00\.000Z/);
    const earlier = await bundle.verifyChain(chain[0]!, [], new Date("2029-12-31T23:00:00Z"));
    assert.match(earlier.ok ? "" : earlier.why, /not valid before/);
    assert.ok((await bundle.verifyChain(chain[0]!, [], now)).ok);
  });

  void it("enforces an intermediate's pathLenConstraint", async () => {
    const root = await newRoot();
    // issueIntermediate sets pathLen 0: a second intermediate below it is not allowed.
    const i1 = await issueIntermediate({ parent: root, trustDomain: TD });
    const i1ca = await loadRoot({
      certPem: i1.certPem,
      keyPem: i1.keyPem,
      chainPem: root.issuerChainPem.join(""),
    });
    const i2 = await issueIntermediate({ parent: i1ca, trustDomain: TD, commonName: "too deep" });
    await rejectsWith(
      loadRoot({ certPem: i2.certPem, keyPem: i2.keyPem, chainPem: i1ca.issuerChainPem.join("") }),
      "WEFT_E_CONFIG",
      /allows 0 CA certificate\(s\) below it \(pathLenConstraint\) but the chain has 1.*sign with a CA higher up/,
    );
    // Build the authority by hand (as a careless CA could) to check the verifier enforces it too.
    const i2ca: SigningAuthority = {
      ...i1ca,
      cert: i2.cert,
      key: importSigningKeyPem(i2.keyPem),
      issuerChain: [i2.cert, ...i1ca.issuerChain],
      issuerChainPem: [i2.certPem, ...i1ca.issuerChainPem],
    };
    const chain = await leafOf(i2ca);
    const verdict = await new TrustBundle([root.root]).verifyChain(chain[0]!, chain.slice(1));
    assert.equal(verdict.ok, false);
    assert.match(verdict.ok ? "" : verdict.why, /pathLenConstraint/);
  });

  void it("an empty bundle verifies nothing and says so", async () => {
    const chain = await leafOf(await newRoot());
    const verdict = await new TrustBundle().verifyChain(chain[0]!, chain.slice(1));
    assert.match(verdict.ok ? "" : verdict.why, /trust bundle is empty/);
  });

  void it("garbage input is a verdict, not an exception", async () => {
    const verdict = await new TrustBundle([(await newRoot()).root]).verifyChain("nope", []);
    assert.match(verdict.ok ? "" : verdict.why, /cannot parse certificates/);
  });
});
