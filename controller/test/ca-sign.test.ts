import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate as NodeX509, webcrypto } from "node:crypto";
import {
  CLOCK_SKEW_MS,
  TrustBundle,
  certificateSans,
  generateRoot,
  loadRoot,
  parseCertificates,
  signCsr,
  uriSans,
  x509,
  type SigningAuthority,
} from "../src/ca/index.js";
import { HOUR, makeCsr, newRoot, rejectsWith, spiffe } from "./ca-testkit.js";

const ID = spiffe("shop", "cart");

void describe("signCsr", () => {
  let ca: SigningAuthority;
  before(async () => {
    ca = await newRoot();
  });

  void it("issues a leaf that verifies against the root with exactly the URI SAN and the leaf profile", async () => {
    const now = new Date();
    const { csrPem } = await makeCsr([ID]);
    const { certChain, leaf } = await signCsr(ca, { csrPem, identity: ID, now });

    assert.equal(certChain.length, 2, "leaf + root");
    const [leafCert, rootCert] = certChain.map((pem) => parseCertificates(pem)[0]!);
    assert.equal(leafCert!.serialNumber, leaf.serialNumber);
    assert.equal(rootCert!.toString("pem"), ca.root.toString("pem"), "root last");

    const verdict = await new TrustBundle([ca.root]).verifyChain(certChain[0]!, certChain.slice(1), now);
    assert.ok(verdict.ok, verdict.ok ? "" : verdict.why);

    assert.deepEqual(certificateSans(leaf), [{ type: "uri", value: ID }]);
    assert.equal(leaf.subject, "", "empty subject like Istio");
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
    assert.equal(san?.critical, true, "SAN critical when subject is empty");
    const bc = leaf.getExtension(x509.BasicConstraintsExtension);
    assert.equal(bc?.ca, false);
    const ku = leaf.getExtension(x509.KeyUsagesExtension);
    assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
    assert.deepEqual([...(eku?.usages ?? [])].sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    const ski = leaf.getExtension(x509.SubjectKeyIdentifierExtension);
    const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension);
    const rootSki = ca.root.getExtension(x509.SubjectKeyIdentifierExtension);
    assert.ok(ski?.keyId);
    assert.equal(aki?.keyId, rootSki?.keyId);

    // Serial: 16 bytes, positive.
    assert.equal(leaf.serialNumber.length, 32);
    assert.ok(parseInt(leaf.serialNumber.slice(0, 2), 16) < 0x80);

    // Node's own (OpenSSL) parser agrees.
    const node = new NodeX509(certChain[0]!);
    assert.equal(node.subjectAltName, `URI:${ID}`);
    assert.ok(node.checkIssued(new NodeX509(certChain[1]!)));
    assert.ok(node.verify(new NodeX509(certChain[1]!).publicKey));
  });

  void it("defaults to 24 h, honours a shorter request, caps at the maximum, backdates one minute", async () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const root = await newRoot(new Date("2029-12-31T00:00:00Z"));
    const { csrPem } = await makeCsr([ID]);
    const lifetime = async (ttlSeconds?: number, maxTtlSeconds?: number): Promise<number> => {
      const { leaf } = await signCsr(root, {
        csrPem,
        identity: ID,
        now,
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
        ...(maxTtlSeconds !== undefined ? { maxTtlSeconds } : {}),
      });
      assert.equal(leaf.notBefore.getTime(), now.getTime() - CLOCK_SKEW_MS);
      return (leaf.notAfter.getTime() - now.getTime()) / 1000;
    };
    assert.equal(await lifetime(), 24 * HOUR);
    assert.equal(await lifetime(0), 24 * HOUR);
    assert.equal(await lifetime(HOUR), HOUR);
    assert.equal(await lifetime(48 * HOUR, 12 * HOUR), 12 * HOUR, "capped at max");
    await rejectsWith(lifetime(-5), "WEFT_E_INVALID_INPUT", /non-negative whole number/);
  });

  void it("never issues past the signing CA's own expiry", async () => {
    const now = new Date();
    const shortRoot = await loadRoot(
      await generateRoot({ trustDomain: "cluster.local", validityDays: 0.5, now }),
    );
    const { csrPem } = await makeCsr([ID]);
    const { leaf } = await signCsr(shortRoot, { csrPem, identity: ID, now });
    assert.equal(leaf.notAfter.getTime(), shortRoot.cert.notAfter.getTime());
  });

  void it("refuses a CSR for another identity, naming the refused SAN", async () => {
    const { csrPem } = await makeCsr([spiffe("shop", "payments")]);
    const err = await rejectsWith(
      signCsr(ca, { csrPem, identity: ID }),
      "WEFT_E_CA_PERMISSION_DENIED",
      /uri:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/payments.*may only hold URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/,
    );
    assert.equal((err as { details?: { reason?: string } }).details?.reason, "csr_san_refused");
  });

  void it("refuses a CSR with an extra SAN (DNS, IP, or a second URI)", async () => {
    for (const extra of [
      { type: "dns" as const, value: "evil.example.com" },
      { type: "ip" as const, value: "10.0.0.1" },
      spiffe("kube-system", "admin"),
    ]) {
      const { csrPem } = await makeCsr([ID, extra]);
      const shown = typeof extra === "string" ? extra : extra.value;
      await rejectsWith(
        signCsr(ca, { csrPem, identity: ID }),
        "WEFT_E_CA_PERMISSION_DENIED",
        new RegExp(shown.replace(/[.]/g, "\\.")),
      );
    }
  });

  void it("refuses SAN types the x509 library cannot render (otherName), instead of silently dropping them", async () => {
    // A CSR whose SAN is [URI ID, otherName 1.2.3.4 "x"], built at the ASN.1 level.
    const { AsnConvert } = await import("@peculiar/asn1-schema");
    const asn = await import("@peculiar/asn1-x509");
    const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]);
    const other = new asn.OtherName({ typeId: "1.2.3.4", value: new Uint8Array([0x0c, 0x01, 0x78]).buffer });
    const names = new asn.SubjectAlternativeName([
      new asn.GeneralName({ uniformResourceIdentifier: ID }),
      new asn.GeneralName({ otherName: other }),
    ]);
    const ext = new x509.Extension("2.5.29.17", false, AsnConvert.serialize(names));
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [ext],
    });
    await rejectsWith(
      signCsr(ca, { csrPem: csr.toString("pem"), identity: ID }),
      "WEFT_E_CA_PERMISSION_DENIED",
      /otherName:1\.2\.3\.4/,
    );
  });

  void it("refuses a CSR without any SAN", async () => {
    const { csrPem } = await makeCsr([]);
    await rejectsWith(
      signCsr(ca, { csrPem, identity: ID }),
      "WEFT_E_CA_BAD_CSR",
      /no subjectAltName.*put exactly the URI SAN/,
    );
  });

  void describe("malformed input gives WEFT_E_CA_BAD_CSR with a clear message", () => {
    const cases: readonly { name: string; pem: () => Promise<string>; message: RegExp }[] = [
      { name: "empty string", pem: () => Promise.resolve(""), message: /not PEM/ },
      { name: "garbage", pem: () => Promise.resolve("hello, I am not a CSR"), message: /not PEM/ },
      {
        name: "garbage inside a CSR PEM block",
        pem: () =>
          Promise.resolve("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
        message: /DER does not parse as PKCS#10/,
      },
      {
        name: "a certificate instead of a CSR",
        pem: async () => (await newRoot()).root.toString("pem"),
        message: /is a "CERTIFICATE", not a "CERTIFICATE REQUEST"/,
      },
      {
        name: "two CSRs",
        pem: async () => (await makeCsr([ID])).csrPem + "\n" + (await makeCsr([ID])).csrPem,
        message: /2 PEM blocks/,
      },
      {
        name: "a tampered CSR (signature no longer verifies)",
        pem: async () => {
          const { csrPem } = await makeCsr([ID]);
          const der = Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).rawData);
          // The last byte is inside the signature's s value: the CSR still parses, the signature fails.
          der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
          return x509.PemConverter.encode(der, "CERTIFICATE REQUEST");
        },
        message: /signature does not verify with its own public key/,
      },
      {
        name: "a P-521 key",
        pem: async () => {
          const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-521" }, true, [
            "sign",
            "verify",
          ]);
          return (await makeCsr([ID], { keys, algorithm: { name: "ECDSA", hash: "SHA-512" } })).csrPem;
        },
        message: /key is ECDSA curve P-521; use ECDSA P-256/,
      },
      {
        name: "an RSA key that is too small",
        pem: async () => {
          const alg = {
            name: "RSASSA-PKCS1-v1_5",
            hash: "SHA-256",
            modulusLength: 1024,
            publicExponent: new Uint8Array([1, 0, 1]),
          };
          const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
          return (await makeCsr([ID], { keys, algorithm: alg })).csrPem;
        },
        message: /RSA key of 1024 bits \(minimum 2048\)/,
      },
    ];
    for (const c of cases) {
      void it(c.name, async () => {
        await rejectsWith(
          signCsr(ca, { csrPem: await c.pem(), identity: ID }),
          "WEFT_E_CA_BAD_CSR",
          c.message,
        );
      });
    }
  });

  void it("accepts an RSA-2048 CSR (interop with RSA-keyed clients)", async () => {
    const alg = {
      name: "RSASSA-PKCS1-v1_5",
      hash: "SHA-256",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
    };
    const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
    const { csrPem } = await makeCsr([ID], { keys, algorithm: alg });
    const { leaf } = await signCsr(ca, { csrPem, identity: ID });
    assert.deepEqual(uriSans(leaf), [ID]);
  });
});
