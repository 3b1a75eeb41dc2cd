// The CA over real gRPC with TLS on loopback, through the generated IstioCertificateService.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { CaClient, CaService, IstioCertificateRequestSchema, type IstioCertificateResponse } from "@weft/api";
import {
  CertificateAuthority,
  IMPERSONATED_IDENTITY_KEY,
  buildTokenTable,
  caGrpcHandlers,
  issueServingCertificate,
  parseCertificates,
  tokenTableAuthenticator,
  uriSans,
} from "../src/ca/index.js";
import { TD, makeCsr, newRoot, spiffe } from "./ca-testkit.js";

const CART = "cart-token-0123456789abcdef";
const ZT = "ztunnel-token-0123456789abcdef";

void describe("IstioCertificateService over gRPC/TLS", () => {
  let server: grpc.Server;
  let client: CaClient;
  let ca: CertificateAuthority;

  before(async () => {
    const root = await newRoot();
    ca = new CertificateAuthority({
      authority: root,
      trustDomain: TD,
      authenticate: tokenTableAuthenticator(
        buildTokenTable([
          { token: CART, namespace: "shop", serviceAccount: "cart" },
          { token: ZT, namespace: "weft-system", serviceAccount: "ztunnel", nodeName: "node-a" },
        ]),
      ),
      podsOf: (ns, sa) =>
        ns === "shop" && sa === "web"
          ? [
              {
                namespace: "shop",
                name: "web-1",
                serviceAccount: "web",
                nodeName: "node-a",
                phase: "Running",
              },
            ]
          : [],
      trustedNodeAgents: ["weft-system/ztunnel"],
    });
    const serving = await issueServingCertificate(root, {
      dnsNames: ["weft-controller.weft-system.svc"],
      ipAddresses: ["127.0.0.1"],
      identity: spiffe("weft-system", "weft-controller"),
    });
    server = new grpc.Server();
    server.addService(CaService, caGrpcHandlers(ca));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createSsl(
          null,
          [{ private_key: Buffer.from(serving.keyPem), cert_chain: Buffer.from(serving.certChain.join("")) }],
          false,
        ),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
    // Verify the serving cert by its DNS SAN, as in-cluster clients would (and send no IP as SNI).
    client = new CaClient(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.trustBundle.toPem())),
      {
        "grpc.ssl_target_name_override": "weft-controller.weft-system.svc",
        "grpc.default_authority": "weft-controller.weft-system.svc",
      },
    );
  });

  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  async function call(
    token: string | undefined,
    csr: string,
    impersonate?: string,
  ): Promise<
    { ok: true; res: IstioCertificateResponse } | { ok: false; code: grpc.status; details: string }
  > {
    const md = new grpc.Metadata();
    if (token !== undefined) md.set("authorization", `Bearer ${token}`);
    const req = create(IstioCertificateRequestSchema, {
      csr,
      validityDuration: 3600n,
      ...(impersonate !== undefined ? { metadata: { [IMPERSONATED_IDENTITY_KEY]: impersonate } } : {}),
    });
    return new Promise((resolve) => {
      client.createCertificate(req, md, { deadline: Date.now() + 10_000 }, (err, res) => {
        if (err) resolve({ ok: false, code: err.code, details: err.details });
        else if (res) resolve({ ok: true, res });
      });
    });
  }

  void it("issues the caller's own identity: leaf first, root last, lifetime as requested", async () => {
    const { csrPem } = await makeCsr([spiffe("shop", "cart")]);
    const out = await call(CART, csrPem);
    assert.ok(out.ok, out.ok ? "" : out.details);
    const chain = out.res.certChain;
    assert.equal(chain.length, 2);
    const leaf = parseCertificates(chain[0]!)[0]!;
    assert.deepEqual(uriSans(leaf), [spiffe("shop", "cart")]);
    assert.equal(Math.round((leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 1000), 3600 + 60);
    assert.equal(chain[1], ca.trustBundle.toPem());
  });

  void it("a node agent gets a pod's identity through the ImpersonatedIdentity metadata", async () => {
    const { csrPem } = await makeCsr([spiffe("shop", "web")]);
    const out = await call(ZT, csrPem, spiffe("shop", "web"));
    assert.ok(out.ok, out.ok ? "" : out.details);
    assert.deepEqual(uriSans(parseCertificates(out.res.certChain[0]!)[0]!), [spiffe("shop", "web")]);
  });

  void it("maps refusals to gRPC status codes with the reason in the details", async () => {
    const own = (await makeCsr([spiffe("shop", "cart")])).csrPem;
    const web = (await makeCsr([spiffe("shop", "web")])).csrPem;
    const cases: [string | undefined, string, string | undefined, grpc.status, RegExp][] = [
      [undefined, own, undefined, grpc.status.UNAUTHENTICATED, /WEFT_E_CA_UNAUTHENTICATED: no bearer token/],
      ["wrong-token-0123456789abcdef", own, undefined, grpc.status.UNAUTHENTICATED, /not known/],
      [CART, web, spiffe("shop", "web"), grpc.status.PERMISSION_DENIED, /only trusted node agents/],
      [
        CART,
        web,
        undefined,
        grpc.status.PERMISSION_DENIED,
        /may only hold URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/,
      ],
      [CART, "garbage", undefined, grpc.status.INVALID_ARGUMENT, /WEFT_E_CA_BAD_CSR/],
    ];
    for (const [token, csr, impersonate, code, details] of cases) {
      const out = await call(token, csr, impersonate);
      assert.equal(out.ok, false);
      if (out.ok) continue;
      assert.equal(out.code, code, out.details);
      assert.match(out.details, details);
    }
  });
});
