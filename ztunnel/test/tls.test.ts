// Node's subjectAltName rendering and the SPIFFE identity rules, against real certificates.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { parseSubjectAltName, spiffeIdentityOf, createMeshSecureContext } from "../src/tls/index.js";
import { createTestCa, spiffe } from "./helpers/pki.js";

void describe("parseSubjectAltName", () => {
  void it("splits Node's rendering, honouring JSON-quoted values", () => {
    const table: [string, ReturnType<typeof parseSubjectAltName>][] = [
      ["URI:spiffe://td/ns/a/sa/b", [{ type: "URI", value: "spiffe://td/ns/a/sa/b" }]],
      [
        "DNS:a.example, URI:spiffe://td/ns/a/sa/b",
        [
          { type: "DNS", value: "a.example" },
          { type: "URI", value: "spiffe://td/ns/a/sa/b" },
        ],
      ],
      [
        'URI:"spiffe://td/ns/a/sa/b\\u002c URI:spiffe://evil/ns/x/sa/y"',
        [{ type: "URI", value: "spiffe://td/ns/a/sa/b, URI:spiffe://evil/ns/x/sa/y" }],
      ],
      [
        'othername:"UPN:a\\u002cb", URI:spiffe://td/ns/a/sa/b',
        [
          { type: "othername", value: "UPN:a,b" },
          { type: "URI", value: "spiffe://td/ns/a/sa/b" },
        ],
      ],
      [
        "IP Address:10.0.0.1, email:a@b",
        [
          { type: "IP Address", value: "10.0.0.1" },
          { type: "email", value: "a@b" },
        ],
      ],
      ['URI:"unterminated', undefined],
      ["no-colon", undefined],
      ["URI:a, ", undefined],
      [":value", undefined],
    ];
    for (const [input, want] of table) assert.deepEqual(parseSubjectAltName(input), want, input);
  });

  void it("reads real certificates: one URI SAN is an identity; a comma-smuggled or second URI is refused", async () => {
    const ca = await createTestCa();
    const sanOf = async (uris: string[], dns: string[] = []): Promise<string | undefined> => {
      const creds = await ca.credentials({ uris, dns });
      return new X509Certificate(creds.certChainPem as string).subjectAltName;
    };
    const ok = spiffeIdentityOf(await sanOf([spiffe("shop", "web")], ["web.shop.svc"]));
    assert.ok(ok.ok);
    assert.deepEqual(ok.identity, { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "web" });

    const smuggled = spiffeIdentityOf(
      await sanOf([`${spiffe("shop", "web")}, URI:${spiffe("kube-system", "admin")}`]),
    );
    assert.equal(smuggled.ok, false);
    const two = spiffeIdentityOf(await sanOf([spiffe("shop", "web"), spiffe("kube-system", "admin")]));
    assert.deepEqual(two, { ok: false, reason: "the certificate has more than one URI SAN" });
    assert.equal(spiffeIdentityOf(await sanOf([], ["web.shop.svc"])).ok, false);
    assert.equal(spiffeIdentityOf(await sanOf(["spiffe://td/ns/a/sa/b/extra"])).ok, false);
    assert.equal(spiffeIdentityOf(undefined).ok, false);
  });
});

void describe("createMeshSecureContext", () => {
  void it("explains a key that does not match the certificate", async () => {
    const ca = await createTestCa();
    const a = await ca.credentials(spiffe("shop", "a"));
    const b = await ca.credentials(spiffe("shop", "b"));
    assert.throws(
      () => createMeshSecureContext({ ...a, keyPem: b.keyPem }),
      (e: Error & { code?: string }) => e.code === "WEFT_E_TLS",
    );
  });
});
