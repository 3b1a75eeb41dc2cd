// The CA client over real gRPC/TLS on loopback: an in-test IstioCertificateService (grpc-js,
// serving certificate for weft-controller.weft-system.svc from the test CA) that signs CSRs with
// the test CA, or refuses them the way the controller does, or lies. Checks what goes on the wire
// (token, ImpersonatedIdentity, validity), how refusals become WeftErrors, and that a wrong
// answer is never used.
import { describe, it, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { CaService, IstioCertificateResponseSchema, type CaHandlers } from "@weft/api";
import { isWeftError, type WeftError } from "@weft/core";
import {
  IMPERSONATED_IDENTITY_KEY,
  IdentityManager,
  createCaIssuer,
  generateKeyAndCsr,
  type CaIssuerOptions,
  type CertificateIssuer,
} from "../src/identity/index.js";
import { createTestCa, spiffe, type TestCa } from "./helpers/pki.js";
import { handshake } from "./helpers/identity.js";

const SERVER_NAME = "weft-controller.weft-system.svc";
const TOKEN = "node-agent-token-0123456789abcdef";
const WEB = spiffe("shop", "web");
const CART = spiffe("shop", "cart");

interface SeenRequest {
  readonly authorization: string | undefined;
  readonly impersonated: unknown;
  readonly validitySeconds: bigint;
}

/** What the test server does with the next requests. */
type Behaviour =
  | { readonly kind: "sign" }
  | { readonly kind: "refuse"; readonly code: grpc.status; readonly details: string }
  | { readonly kind: "sign-as"; readonly identity: string }
  | { readonly kind: "sign-other-key" }
  | { readonly kind: "empty" };

void describe("CA client over real gRPC/TLS", () => {
  let ca: TestCa;
  let server: grpc.Server;
  let address = "";
  let tokenDir = "";
  let behaviour: Behaviour = { kind: "sign" };
  const seen: SeenRequest[] = [];
  const issuers: CertificateIssuer[] = [];
  const managers: IdentityManager[] = [];

  function issuer(opts: Partial<CaIssuerOptions> = {}): CertificateIssuer {
    const i = createCaIssuer({ address, caRootPem: ca.rootPem, token: TOKEN, ...opts });
    issuers.push(i);
    return i;
  }

  before(async () => {
    ca = await createTestCa("ca-client test root");
    tokenDir = await mkdtemp(join(tmpdir(), "weft-identity-token-"));
    const serving = await ca.credentials({ uris: [], dns: [SERVER_NAME] });
    const handlers: CaHandlers = {
      createCertificate: (call, callback) => {
        const authorization = call.metadata.get("authorization")[0]?.toString();
        const impersonated = call.request.metadata?.[IMPERSONATED_IDENTITY_KEY];
        seen.push({ authorization, impersonated, validitySeconds: call.request.validityDuration });
        const ttlMs = Number(call.request.validityDuration) * 1000;
        const asked = typeof impersonated === "string" ? impersonated : "";
        const reply = (chain: string[]): void =>
          callback(null, create(IstioCertificateResponseSchema, { certChain: chain }));
        const fail = (err: unknown): void =>
          callback({ code: grpc.status.INTERNAL, details: (err as Error).message });
        switch (behaviour.kind) {
          case "sign":
            ca.signCsr(call.request.csr, asked, ttlMs).then(reply, fail);
            return;
          case "sign-as":
            ca.signCsr(call.request.csr, behaviour.identity, ttlMs).then(reply, fail);
            return;
          case "sign-other-key":
            generateKeyAndCsr(asked)
              .then(({ csrPem }) => ca.signCsr(csrPem, asked, ttlMs))
              .then(reply, fail);
            return;
          case "empty":
            reply([]);
            return;
          case "refuse":
            callback({ code: behaviour.code, details: behaviour.details });
            return;
        }
      },
    };
    server = new grpc.Server();
    server.addService(CaService, handlers);
    const creds = grpc.ServerCredentials.createSsl(
      null,
      [
        {
          private_key: Buffer.from(serving.keyPem),
          cert_chain: Buffer.from(serving.certChainPem as string),
        },
      ],
      false,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });

  beforeEach(() => {
    behaviour = { kind: "sign" };
    seen.length = 0;
  });

  after(async () => {
    for (const m of managers) m.close();
    for (const i of issuers) i.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await rm(tokenDir, { recursive: true, force: true });
  });

  async function issueFor(i: CertificateIssuer, identity: string, ttl = 3600): Promise<readonly string[]> {
    const { csrPem } = await generateKeyAndCsr(identity);
    return i.issue(identity, csrPem, ttl);
  }

  async function refusedWith(p: Promise<unknown>, code: string, message: RegExp): Promise<WeftError> {
    let caught: WeftError | undefined;
    await assert.rejects(p, (err: unknown) => {
      assert.ok(isWeftError(err), `a WeftError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
      caught = err;
      return true;
    });
    return caught!;
  }

  void it("sends the bearer token, ImpersonatedIdentity and validity; returns the verified chain", async () => {
    const chain = await issueFor(issuer(), WEB, 7200);
    assert.deepEqual(seen, [{ authorization: `Bearer ${TOKEN}`, impersonated: WEB, validitySeconds: 7200n }]);
    assert.equal(chain.length, 2);
    const leaf = new X509Certificate(chain[0]!);
    const root = new X509Certificate(chain[1]!);
    assert.equal(leaf.subjectAltName, `URI:${WEB}`);
    assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
  });

  void it("an IdentityManager over it hands out contexts that complete a real mesh handshake", async () => {
    const m = new IdentityManager({ issuer: issuer(), certTtlSeconds: 3600 });
    managers.push(m);
    const [web, cart] = await Promise.all([m.get(WEB), m.get(CART)]);
    assert.equal(await handshake(web, cart, CART), WEB);
    assert.deepEqual(m.trustBundle(), [ca.rootPem]);
    assert.deepEqual(
      m.certificates().map((s) => [s.identity, s.state]),
      [
        [CART, "valid"],
        [WEB, "valid"],
      ],
    );
    assert.deepEqual(
      seen.map((r) => r.impersonated).sort(),
      [CART, WEB],
      "one request per identity, each naming it",
    );
    m.close();
  });

  void it("re-reads the token file on every call (projected tokens rotate)", async () => {
    const file = join(tokenDir, "token");
    const i = issuer({ token: undefined, tokenFile: file });
    await writeFile(file, "first-token-0123456789abcdef\n");
    await issueFor(i, WEB);
    await writeFile(file, "second-token-0123456789abcdef\n");
    await issueFor(i, WEB);
    assert.deepEqual(
      seen.map((r) => r.authorization),
      ["Bearer first-token-0123456789abcdef", "Bearer second-token-0123456789abcdef"],
    );
    await rm(file);
    await refusedWith(issueFor(i, WEB), "WEFT_E_CA_UNAUTHENTICATED", /cannot read the CA token file/);
    assert.equal(seen.length, 2, "no request without a token");
  });

  void it("maps the CA's refusals to WeftErrors that name cause and fix", async () => {
    const i = issuer();
    behaviour = {
      kind: "refuse",
      code: grpc.status.UNAUTHENTICATED,
      details: "unknown bearer token — send a valid service account token",
    };
    const unauth = await refusedWith(
      issueFor(i, WEB),
      "WEFT_E_CA_UNAUTHENTICATED",
      /did not accept this agent's token.*unknown bearer token.* — check the agent's service account token/,
    );
    assert.equal(unauth.details?.["retryable"], false);

    behaviour = {
      kind: "refuse",
      code: grpc.status.PERMISSION_DENIED,
      details: "no running pod of service account shop/web is scheduled on that node",
    };
    await refusedWith(
      issueFor(i, WEB),
      "WEFT_E_CA_PERMISSION_DENIED",
      /refused to issue spiffe:\/\/cluster.local\/ns\/shop\/sa\/web.*no running pod.* — a node agent gets only identities of pods scheduled on its own node/,
    );

    behaviour = { kind: "refuse", code: grpc.status.INVALID_ARGUMENT, details: "the CSR is not PEM" };
    await refusedWith(issueFor(i, WEB), "WEFT_E_CA_BAD_CSR", /as malformed: the CSR is not PEM/);

    behaviour = { kind: "refuse", code: grpc.status.UNAVAILABLE, details: "the controller is shutting down" };
    const down = await refusedWith(issueFor(i, WEB), "WEFT_E_UNAVAILABLE", /shutting down.* — retried/);
    assert.equal(down.details?.["retryable"], true);

    behaviour = { kind: "refuse", code: grpc.status.INTERNAL, details: "boom" };
    await refusedWith(issueFor(i, WEB), "WEFT_E_INTERNAL", /INTERNAL: boom.*controller's log/);
  });

  void it("a CA it cannot verify, or cannot reach, is UNAVAILABLE (retryable), not a certificate", async () => {
    const wrongName = issuer({ serverName: "someone-else.example" });
    const e1 = await refusedWith(issueFor(wrongName, WEB), "WEFT_E_UNAVAILABLE", /not reachable/);
    assert.equal(e1.details?.["retryable"], true);
    const other = await createTestCa("not the CA's root");
    const wrongRoot = issuer({ caRootPem: other.rootPem });
    await refusedWith(issueFor(wrongRoot, WEB), "WEFT_E_UNAVAILABLE", /not reachable/);
    assert.equal(seen.length, 0, "nothing reached the server");
    // A port nobody listens on: the server's own port after a probe server closes.
    const probe = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      probe.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    probe.forceShutdown();
    const nobody = issuer({ address: `127.0.0.1:${port}`, timeoutMs: 5000 });
    await assert.rejects(issueFor(nobody, WEB), (err: unknown) => {
      assert.ok(isWeftError(err, "WEFT_E_UNAVAILABLE") || isWeftError(err, "WEFT_E_TIMEOUT"), String(err));
      return true;
    });
  });

  void it("refuses a leaf for another identity, with another key, or an empty chain", async () => {
    const i = issuer();
    behaviour = { kind: "sign-as", identity: spiffe("kube-system", "admin") };
    await refusedWith(
      issueFor(i, WEB),
      "WEFT_E_TLS",
      /issued for spiffe:\/\/cluster.local\/ns\/shop\/sa\/web is unusable: the leaf names spiffe:\/\/cluster.local\/ns\/kube-system\/sa\/admin/,
    );
    behaviour = { kind: "sign-other-key" };
    await refusedWith(issueFor(i, WEB), "WEFT_E_TLS", /public key is not the key of our CSR/);
    behaviour = { kind: "empty" };
    await refusedWith(issueFor(i, WEB), "WEFT_E_PROTOCOL", /0 certificate\(s\)/);

    // The manager never installs such an answer and keeps retrying.
    behaviour = { kind: "sign-as", identity: spiffe("kube-system", "admin") };
    const m = new IdentityManager({ issuer: i, retryBackoff: { baseMs: 60_000, maxMs: 60_000 } });
    managers.push(m);
    await assert.rejects(m.get(WEB), (err: unknown) => isWeftError(err, "WEFT_E_TLS"));
    assert.equal(m.current(WEB), undefined);
    assert.equal(m.certificates()[0]?.state, "failed");
    m.close();
  });

  void it("a CA root that is not PEM is a configuration error at construction", () => {
    assert.throws(
      () => createCaIssuer({ address, caRootPem: "not a certificate" }),
      (err: unknown) => isWeftError(err, "WEFT_E_CONFIG"),
    );
  });
});
