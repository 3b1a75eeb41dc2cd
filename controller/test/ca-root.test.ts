import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate as NodeX509 } from "node:crypto";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CA_FILES,
  TrustBundle,
  fingerprint,
  generateRoot,
  issueIntermediate,
  loadOrCreateRoot,
  loadRoot,
  signCsr,
  uriSans,
  x509,
} from "../src/ca/index.js";
import { TD, makeCsr, newRoot, rejectsWith, spiffe, withTempDir } from "./ca-testkit.js";

const ID = spiffe("shop", "cart");

void describe("generateRoot", () => {
  void it("makes a self-signed P-256 CA root for the trust domain", async () => {
    const now = new Date();
    const root = await generateRoot({ trustDomain: TD, now, spiffeSan: true });
    assert.equal(root.cert.subject, `O=${TD}, CN=weft root CA`);
    assert.equal(root.cert.issuer, root.cert.subject);
    assert.ok(await root.cert.isSelfSigned());
    assert.equal(root.cert.getExtension(x509.BasicConstraintsExtension)?.ca, true);
    assert.equal(
      root.cert.getExtension(x509.KeyUsagesExtension)?.usages,
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    );
    assert.ok(root.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    assert.deepEqual(uriSans(root.cert), [`spiffe://${TD}`]);
    const years = (root.cert.notAfter.getTime() - now.getTime()) / (365 * 86_400_000);
    assert.ok(years > 9.9 && years < 10.1, `validity ${years} years`);
    const node = new NodeX509(root.certPem);
    assert.equal(node.ca, true);
    assert.equal(node.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal(createPrivateKey(root.keyPem).asymmetricKeyType, "ec");
  });
});

void describe("loadRoot", () => {
  void it("refuses a key that does not belong to the certificate", async () => {
    const a = await generateRoot({ trustDomain: TD });
    const b = await generateRoot({ trustDomain: TD });
    await rejectsWith(
      loadRoot({ certPem: a.certPem, keyPem: b.keyPem }),
      "WEFT_E_CONFIG",
      /ca-key\.pem does not match the certificate in ca-cert\.pem.*provide the private key that belongs to ca-cert\.pem/,
    );
  });

  void it("refuses a leaf certificate as CA", async () => {
    const ca = await newRoot();
    const csr = await makeCsr([ID]);
    const { certChain } = await signCsr(ca, { csrPem: csr.csrPem, identity: ID });
    await rejectsWith(
      loadRoot({ certPem: certChain[0]!, keyPem: csr.keyPem }),
      "WEFT_E_CONFIG",
      /is not a CA certificate/,
    );
  });

  void it("refuses an expired CA, saying when it expired", async () => {
    const past = new Date("2020-01-01T00:00:00Z");
    const old = await generateRoot({ trustDomain: TD, now: past, validityDays: 30 });
    await rejectsWith(loadRoot(old), "WEFT_E_CONFIG", /expired at 2020-01-31T00:00:00\.000Z.*renew/);
  });

  void it("refuses garbage PEM and unsupported keys with the file named", async () => {
    const root = await generateRoot({ trustDomain: TD });
    await rejectsWith(
      loadRoot({ certPem: "nope", keyPem: root.keyPem }),
      "WEFT_E_CONFIG",
      /ca-cert\.pem contains no PEM block/,
    );
    await rejectsWith(
      loadRoot({ certPem: root.certPem, keyPem: "nope" }),
      "WEFT_E_CONFIG",
      /ca-key\.pem: not a readable private key/,
    );
  });

  void it("accepts a SEC1 'EC PRIVATE KEY' (cert-manager's default encoding)", async () => {
    const root = await generateRoot({ trustDomain: TD });
    const sec1 = createPrivateKey(root.keyPem).export({ type: "sec1", format: "pem" }).toString();
    assert.match(sec1, /BEGIN EC PRIVATE KEY/);
    const ca = await loadRoot({ certPem: root.certPem, keyPem: sec1 });
    assert.equal(fingerprint(ca.root), fingerprint(root.cert));
  });

  void it("loads an intermediate with its chain; leaves carry leaf → intermediate → root and verify to the root", async () => {
    const root = await newRoot();
    const inter = await issueIntermediate({ parent: root, trustDomain: TD });
    // Istio's layout: cert-chain.pem = intermediate + root; root-cert.pem = root.
    const ca = await loadRoot({
      certPem: inter.certPem,
      keyPem: inter.keyPem,
      chainPem: inter.certPem + root.issuerChainPem.join(""),
      rootPem: root.issuerChainPem.join(""),
    });
    assert.equal(fingerprint(ca.cert), fingerprint(inter.cert));
    assert.equal(fingerprint(ca.root), fingerprint(root.root));
    assert.equal(ca.issuerChain.length, 2);

    const { csrPem } = await makeCsr([ID]);
    const { certChain } = await signCsr(ca, { csrPem, identity: ID });
    assert.equal(certChain.length, 3);
    assert.equal(certChain[1], inter.certPem, "intermediate in the middle");
    assert.equal(certChain[2], root.issuerChainPem[0], "root last");

    const bundle = new TrustBundle([root.root]);
    const verdict = await bundle.verifyChain(certChain[0]!, certChain.slice(1));
    assert.ok(verdict.ok, verdict.ok ? "" : verdict.why);
    assert.equal(verdict.path.length, 3);
    // Without the intermediate, the leaf does not reach the root.
    const missing = await bundle.verifyChain(certChain[0]!, []);
    assert.equal(missing.ok, false);
    assert.match(missing.ok ? "" : missing.why, /no certificate in the chain or the trust bundle signed/);
  });

  void it("refuses an intermediate whose chain does not reach a root, explaining which files to add", async () => {
    const root = await newRoot();
    const inter = await issueIntermediate({ parent: root, trustDomain: TD });
    await rejectsWith(
      loadRoot({ certPem: inter.certPem, keyPem: inter.keyPem }),
      "WEFT_E_CONFIG",
      /is an intermediate; provide its chain up to the self-signed root/,
    );
  });

  void it("refuses a root-cert.pem that is not the root the chain reaches", async () => {
    const root = await newRoot();
    const other = await generateRoot({ trustDomain: TD });
    const inter = await issueIntermediate({ parent: root, trustDomain: TD });
    await rejectsWith(
      loadRoot({
        certPem: inter.certPem,
        keyPem: inter.keyPem,
        chainPem: root.issuerChainPem[0]!,
        rootPem: other.certPem,
      }),
      "WEFT_E_CONFIG",
      /root-cert\.pem .* is not the root that ca-cert\.pem chains to/,
    );
  });
});

void describe("loadOrCreateRoot", () => {
  void it("generates once with the key at 0600, then loads the same root", async () => {
    await withTempDir(async (dir) => {
      const caDir = join(dir, "ca");
      const first = await loadOrCreateRoot(caDir, { trustDomain: TD });
      assert.equal(first.created, true);
      const keyMode = (await stat(join(caDir, CA_FILES.key))).mode & 0o777;
      assert.equal(keyMode, 0o600);
      assert.deepEqual((await readdir(caDir)).sort(), [CA_FILES.cert, CA_FILES.key], "no temp files left");
      const second = await loadOrCreateRoot(caDir, { trustDomain: TD });
      assert.equal(second.created, false);
      assert.equal(fingerprint(second.authority.root), fingerprint(first.authority.root));
      const onDisk = await readFile(join(caDir, CA_FILES.cert), "utf8");
      assert.equal(onDisk, first.authority.issuerChainPem[0]);
    });
  });

  void it("loads an operator's intermediate with cert-chain.pem and root-cert.pem", async () => {
    await withTempDir(async (dir) => {
      const root = await newRoot();
      const inter = await issueIntermediate({ parent: root, trustDomain: TD });
      await writeFile(join(dir, CA_FILES.cert), inter.certPem);
      await writeFile(join(dir, CA_FILES.key), inter.keyPem, { mode: 0o600 });
      await writeFile(join(dir, CA_FILES.chain), inter.certPem + root.issuerChainPem[0]!);
      await writeFile(join(dir, CA_FILES.root), root.issuerChainPem[0]!);
      const { authority, created } = await loadOrCreateRoot(dir, { trustDomain: TD });
      assert.equal(created, false);
      assert.equal(fingerprint(authority.cert), fingerprint(inter.cert));
      assert.equal(fingerprint(authority.root), fingerprint(root.root));
    });
  });

  void it("refuses half a pair instead of silently replacing the CA", async () => {
    await withTempDir(async (dir) => {
      const root = await generateRoot({ trustDomain: TD });
      await writeFile(join(dir, CA_FILES.cert), root.certPem);
      await rejectsWith(
        loadOrCreateRoot(dir, { trustDomain: TD }),
        "WEFT_E_CONFIG",
        /ca-cert\.pem exists but .*ca-key\.pem does not/,
      );
    });
  });

  void it("names the file when the stored key does not match", async () => {
    await withTempDir(async (dir) => {
      const a = await generateRoot({ trustDomain: TD });
      const b = await generateRoot({ trustDomain: TD });
      await writeFile(join(dir, CA_FILES.cert), a.certPem);
      await writeFile(join(dir, CA_FILES.key), b.keyPem);
      await rejectsWith(
        loadOrCreateRoot(dir, { trustDomain: TD }),
        "WEFT_E_CONFIG",
        new RegExp(`${dir}/ca-key\\.pem does not match`),
      );
    });
  });
});
