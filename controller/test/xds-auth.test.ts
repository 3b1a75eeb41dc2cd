// xDS authentication and authorization: the decision table (pure), certificate verification with
// real certificates, and the server applying the decision to real gRPC/TLS streams on loopback.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  AdsClient,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from "@weft/api";
import {
  TrustBundle,
  buildTokenTable,
  issueIntermediate,
  issueServingCertificate,
  loadRoot,
  signCsr,
  tokenTableAuthenticator,
  x509,
  type SigningAuthority,
} from "../src/ca/index.js";
import { TlsServerCredentials } from "../src/ca-service/index.js";
import {
  DeltaXdsServer,
  ResourceCache,
  checkClientCertificate,
  createXdsAuthorizer,
  decideXdsAccess,
  type CertificateCheck,
  type TokenCheck,
  type XdsAccessFacts,
  type XdsServerEvent,
} from "../src/xds/index.js";
import { ADDRESS, workload } from "./xds-testkit.js";
import { TD, makeCsr, newRoot, spiffe } from "./ca-testkit.js";

const AGENTS = new Set(["weft-system/ztunnel"]);
const caller = (namespace: string, serviceAccount: string): TokenCheck => ({
  ok: true,
  caller: { namespace, serviceAccount },
});
const certOf = (...uriSans: string[]): CertificateCheck => ({ ok: true, uriSans });
const BAD_CERT: CertificateCheck = {
  ok: false,
  why: "no certificate in the chain or the trust bundle signed it",
};
const UNKNOWN_TOKEN: TokenCheck = {
  ok: false,
  reason: "token_unknown",
  message: "the bearer token is not known",
};

void describe("decideXdsAccess (decision table)", () => {
  type Want =
    | { allowed: true; identity: string; via: "token" | "certificate"; role: "node-agent" | "waypoint" }
    | { status: string; reason: string; message: RegExp };
  const table: [string, Partial<XdsAccessFacts>, Want][] = [
    [
      "no credentials",
      {},
      { status: "UNAUTHENTICATED", reason: "no_credentials", message: /authorization: Bearer <token>/ },
    ],
    [
      "unknown token",
      { token: UNKNOWN_TOKEN },
      { status: "UNAUTHENTICATED", reason: "token_unknown", message: /not known/ },
    ],
    [
      "expired token",
      { token: { ok: false, reason: "token_expired", message: "expired at 2020-01-01" } },
      { status: "UNAUTHENTICATED", reason: "token_expired", message: /expired/ },
    ],
    [
      "malformed authorization",
      { token: { ok: false, reason: "token_malformed", message: "not 'Bearer <token>'" } },
      { status: "UNAUTHENTICATED", reason: "token_malformed", message: /Bearer/ },
    ],
    [
      "token backend down",
      { token: { ok: false, reason: "token_review_unavailable", message: "cannot verify: ECONNREFUSED" } },
      { status: "UNAVAILABLE", reason: "token_review_unavailable", message: /retry/ },
    ],
    [
      "node agent token",
      { token: caller("weft-system", "ztunnel") },
      { allowed: true, identity: spiffe("weft-system", "ztunnel"), via: "token", role: "node-agent" },
    ],
    [
      "node agent that also names a waypoint elsewhere (it may read everything anyway)",
      { token: caller("weft-system", "ztunnel"), waypoint: "shop/waypoint" },
      { allowed: true, identity: spiffe("weft-system", "ztunnel"), via: "token", role: "node-agent" },
    ],
    [
      "workload token",
      { token: caller("shop", "cart") },
      {
        status: "PERMISSION_DENIED",
        reason: "not_node_agent_or_waypoint",
        message:
          /spiffe:\/\/cluster.local\/ns\/shop\/sa\/cart may not read.*WEFT_CA_TRUSTED_NODE_AGENTS: weft-system\/ztunnel/,
      },
    ],
    [
      "workload token with an empty waypoint metadata",
      { token: caller("shop", "cart"), waypoint: "" },
      { status: "PERMISSION_DENIED", reason: "not_node_agent_or_waypoint", message: /WEFT_WAYPOINT/ },
    ],
    [
      "waypoint of its own namespace",
      { token: caller("shop", "waypoint"), waypoint: "shop/waypoint" },
      { allowed: true, identity: spiffe("shop", "waypoint"), via: "token", role: "waypoint" },
    ],
    [
      "waypoint claiming a Gateway of another namespace",
      { token: caller("shop", "waypoint"), waypoint: "bank/waypoint" },
      {
        status: "PERMISSION_DENIED",
        reason: "waypoint_other_namespace",
        message: /only serve Gateways in its own namespace \(shop\)/,
      },
    ],
    [
      "waypoint metadata without a namespace",
      { token: caller("shop", "waypoint"), waypoint: "waypoint" },
      { status: "PERMISSION_DENIED", reason: "waypoint_malformed", message: /<namespace>\/<gateway name>/ },
    ],
    [
      "waypoint metadata with extra parts",
      { token: caller("shop", "waypoint"), waypoint: "shop/a/b" },
      { status: "PERMISSION_DENIED", reason: "waypoint_malformed", message: /not "<namespace>/ },
    ],
    [
      "node agent certificate, no token",
      { certificate: certOf(spiffe("weft-system", "ztunnel")) },
      { allowed: true, identity: spiffe("weft-system", "ztunnel"), via: "certificate", role: "node-agent" },
    ],
    [
      "valid certificate wins over a bad token",
      { certificate: certOf(spiffe("weft-system", "ztunnel")), token: UNKNOWN_TOKEN },
      { allowed: true, identity: spiffe("weft-system", "ztunnel"), via: "certificate", role: "node-agent" },
    ],
    [
      "valid token wins over a bad certificate",
      { certificate: BAD_CERT, token: caller("weft-system", "ztunnel") },
      { allowed: true, identity: spiffe("weft-system", "ztunnel"), via: "token", role: "node-agent" },
    ],
    [
      "certificate identity decides, not the token's, when both are valid",
      { certificate: certOf(spiffe("shop", "cart")), token: caller("weft-system", "ztunnel") },
      { status: "PERMISSION_DENIED", reason: "not_node_agent_or_waypoint", message: /ns\/shop\/sa\/cart/ },
    ],
    [
      "certificate that does not verify, no token",
      { certificate: BAD_CERT },
      {
        status: "UNAUTHENTICATED",
        reason: "certificate_invalid",
        message: /does not verify.*no certificate in the chain/,
      },
    ],
    [
      "bad certificate and bad token: both reasons",
      { certificate: BAD_CERT, token: UNKNOWN_TOKEN },
      { status: "UNAUTHENTICATED", reason: "token_unknown", message: /not known.*also.*does not verify/ },
    ],
    [
      "certificate without a SPIFFE id",
      { certificate: certOf() },
      { status: "UNAUTHENTICATED", reason: "certificate_no_identity", message: /no SPIFFE URI SAN/ },
    ],
    [
      "certificate with two SPIFFE ids",
      { certificate: certOf(spiffe("weft-system", "ztunnel"), spiffe("shop", "cart")) },
      { status: "UNAUTHENTICATED", reason: "certificate_no_identity", message: /carries 2 SPIFFE/ },
    ],
    [
      "certificate of another trust domain",
      { certificate: certOf("spiffe://other.example/ns/weft-system/sa/ztunnel") },
      { status: "UNAUTHENTICATED", reason: "certificate_foreign_trust_domain", message: /"other.example"/ },
    ],
    [
      "waypoint certificate",
      { certificate: certOf(spiffe("shop", "waypoint")), waypoint: "shop/waypoint" },
      { allowed: true, identity: spiffe("shop", "waypoint"), via: "certificate", role: "waypoint" },
    ],
  ];
  for (const [name, partial, want] of table) {
    void it(name, () => {
      const got = decideXdsAccess({
        token: undefined,
        certificate: undefined,
        waypoint: undefined,
        trustDomain: TD,
        trustedNodeAgents: AGENTS,
        ...partial,
      });
      if ("allowed" in want) {
        assert.deepEqual(got, want);
        return;
      }
      assert.equal(got.allowed, false);
      if (got.allowed) return;
      assert.equal(got.status, want.status);
      assert.equal(got.reason, want.reason);
      assert.match(got.message, want.message);
      assert.match(got.message, / — /, "every refusal names the fix after ' — '");
    });
  }

  void it("with no node agents configured the refusal says so", () => {
    const got = decideXdsAccess({
      token: caller("weft-system", "ztunnel"),
      certificate: undefined,
      waypoint: undefined,
      trustDomain: TD,
      trustedNodeAgents: new Set(),
    });
    assert.ok(!got.allowed && /none configured/.test(got.message));
  });
});

async function leafFor(
  ca: SigningAuthority,
  identity: string,
  now?: Date,
): Promise<{ chain: string[]; keyPem: string }> {
  const csr = await makeCsr([identity]);
  const signed = await signCsr(ca, { csrPem: csr.csrPem, identity, ...(now !== undefined ? { now } : {}) });
  return { chain: signed.certChain, keyPem: csr.keyPem };
}

const der = (pem: string): Uint8Array => new Uint8Array(new x509.X509Certificate(pem).rawData);

void describe("checkClientCertificate (real certificates)", () => {
  let root: SigningAuthority;
  let bundle: TrustBundle;
  before(async () => {
    root = await newRoot();
    bundle = new TrustBundle([root.root]);
  });

  void it("accepts a leaf our root signed and returns its URI SANs", async () => {
    const { chain } = await leafFor(root, spiffe("weft-system", "ztunnel"));
    assert.deepEqual(await checkClientCertificate(der(chain[0]!), bundle, [], new Date()), {
      ok: true,
      uriSans: [spiffe("weft-system", "ztunnel")],
    });
  });

  void it("refuses a leaf of another root", async () => {
    const { chain } = await leafFor(await newRoot(), spiffe("weft-system", "ztunnel"));
    const got = await checkClientCertificate(der(chain[0]!), bundle, [], new Date());
    assert.ok(
      !got.ok && /no certificate in the chain or the trust bundle signed/.test(got.why),
      JSON.stringify(got),
    );
  });

  void it("refuses an expired leaf", async () => {
    const { chain } = await leafFor(root, spiffe("weft-system", "ztunnel"));
    const later = new Date(Date.now() + 400 * 24 * 3600 * 1000);
    const got = await checkClientCertificate(der(chain[0]!), bundle, [], later);
    assert.ok(!got.ok && /expired at/.test(got.why), JSON.stringify(got));
  });

  void it("refuses bytes that are not a certificate", async () => {
    const got = await checkClientCertificate(new Uint8Array([1, 2, 3]), bundle, [], new Date());
    assert.ok(!got.ok && /cannot parse/.test(got.why));
  });

  void it("follows the CA's intermediates to the root", async () => {
    const mid = await issueIntermediate({ parent: root, trustDomain: TD });
    const authority = await loadRoot({
      certPem: mid.certPem,
      keyPem: mid.keyPem,
      chainPem: root.issuerChainPem.join(""),
    });
    const { chain } = await leafFor(authority, spiffe("weft-system", "ztunnel"));
    assert.equal((await checkClientCertificate(der(chain[0]!), bundle, [], new Date())).ok, false);
    assert.equal(
      (await checkClientCertificate(der(chain[0]!), bundle, authority.issuerChain, new Date())).ok,
      true,
    );
  });
});

// ---- the server over real gRPC/TLS -----------------------------------------------------------------

const SERVER_NAME = "weft-controller.weft-system.svc";
const ZTUNNEL_TOKEN = "ztunnel-token-0123456789abcdef";
const CART_TOKEN = "cart-token-0123456789abcdef012";
const WAYPOINT_TOKEN = "waypoint-token-0123456789abcdef";

interface Outcome {
  readonly responses: DeltaDiscoveryResponse[];
  readonly status: grpc.StatusObject | undefined;
}

void describe("DeltaXdsServer with createXdsAuthorizer over TLS", () => {
  let root: SigningAuthority;
  let server: DeltaXdsServer;
  let grpcServer: grpc.Server;
  let address = "";
  const events: XdsServerEvent[] = [];
  const clients: AdsClient[] = [];

  before(async () => {
    root = await newRoot();
    const bundle = new TrustBundle([root.root]);
    const cache = new ResourceCache();
    cache.replace(ADDRESS, [workload("Kubernetes//Pod/shop/a")]);
    const tokens = buildTokenTable([
      { token: ZTUNNEL_TOKEN, namespace: "weft-system", serviceAccount: "ztunnel" },
      { token: CART_TOKEN, namespace: "shop", serviceAccount: "cart" },
      { token: WAYPOINT_TOKEN, namespace: "shop", serviceAccount: "waypoint" },
    ]);
    server = new DeltaXdsServer({
      cache,
      debounce: { quietMs: 0, maxMs: 0 },
      onEvent: (e) => events.push(e),
      authorize: createXdsAuthorizer({
        authenticate: tokenTableAuthenticator(tokens),
        trustBundle: () => bundle,
        trustDomain: TD,
        trustedNodeAgents: AGENTS,
      }),
    });
    const serving = await issueServingCertificate(root, {
      dnsNames: [SERVER_NAME],
      ipAddresses: ["127.0.0.1"],
    });
    grpcServer = new grpc.Server();
    server.addTo(grpcServer);
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(
        "127.0.0.1:0",
        new TlsServerCredentials({
          ca: bundle.toPem(),
          certChainPem: serving.certChain.join(""),
          keyPem: serving.keyPem,
        }),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  after(async () => {
    for (const c of clients) c.close();
    server.close();
    await new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
    grpcServer.forceShutdown();
  });

  /** Opens a stream, sends one Address subscription, and waits for a response or the stream's end. */
  async function attempt(opts: {
    token?: string;
    cert?: { chain: string[]; keyPem: string };
    waypoint?: string;
    id: string;
  }): Promise<Outcome> {
    const creds = grpc.credentials.createSsl(
      Buffer.from(root.root.toString("pem")),
      opts.cert !== undefined ? Buffer.from(opts.cert.keyPem) : null,
      opts.cert !== undefined ? Buffer.from(opts.cert.chain.join("\n")) : null,
    );
    const client = new AdsClient(address, creds, {
      "grpc.ssl_target_name_override": SERVER_NAME,
      "grpc.default_authority": SERVER_NAME,
    });
    clients.push(client);
    const md = new grpc.Metadata();
    if (opts.token !== undefined) md.set("authorization", `Bearer ${opts.token}`);
    const call = client.deltaAggregatedResources(md);
    const responses: DeltaDiscoveryResponse[] = [];
    const outcome = new Promise<Outcome>((resolve) => {
      call.on("data", (r: DeltaDiscoveryResponse) => {
        responses.push(r);
        resolve({ responses, status: undefined });
      });
      call.on("error", () => undefined);
      call.on("status", (status: grpc.StatusObject) => resolve({ responses, status }));
    });
    const init: MessageInitShape<typeof DeltaDiscoveryRequestSchema> = {
      typeUrl: ADDRESS,
      node: {
        id: opts.id,
        ...(opts.waypoint !== undefined ? { metadata: { WEFT_WAYPOINT: opts.waypoint } } : {}),
      },
    };
    call.write(create(DeltaDiscoveryRequestSchema, init) satisfies DeltaDiscoveryRequest);
    const got = await outcome;
    return got;
  }

  const refused = (o: Outcome, code: grpc.status, message: RegExp): void => {
    assert.equal(o.responses.length, 0, "nothing is sent to a refused client");
    assert.ok(o.status !== undefined, "the stream ended");
    assert.equal(grpc.status[o.status.code], grpc.status[code], o.status.details);
    assert.match(o.status.details, message);
  };

  void it("no credentials → UNAUTHENTICATED naming how to authenticate", async () => {
    refused(await attempt({ id: "anon" }), grpc.status.UNAUTHENTICATED, /Bearer <token>.*client certificate/);
  });

  void it("unknown token → UNAUTHENTICATED", async () => {
    refused(
      await attempt({ id: "x", token: "unknown-0123456789abcdef" }),
      grpc.status.UNAUTHENTICATED,
      /not known/,
    );
  });

  void it("a workload's token → PERMISSION_DENIED", async () => {
    refused(
      await attempt({ id: "cart", token: CART_TOKEN }),
      grpc.status.PERMISSION_DENIED,
      /WEFT_CA_TRUSTED_NODE_AGENTS/,
    );
  });

  void it("a waypoint naming another namespace's Gateway → PERMISSION_DENIED", async () => {
    refused(
      await attempt({ id: "wp", token: WAYPOINT_TOKEN, waypoint: "bank/waypoint" }),
      grpc.status.PERMISSION_DENIED,
      /own namespace/,
    );
  });

  void it("a node agent token syncs", async () => {
    const o = await attempt({ id: "ztunnel-token", token: ZTUNNEL_TOKEN });
    assert.equal(o.status, undefined);
    assert.deepEqual(
      o.responses[0]?.resources.map((r) => r.name),
      ["Kubernetes//Pod/shop/a"],
    );
  });

  void it("a waypoint of its own namespace syncs", async () => {
    const o = await attempt({ id: "waypoint", token: WAYPOINT_TOKEN, waypoint: "shop/waypoint" });
    assert.equal(o.status, undefined);
    assert.equal(o.responses.length, 1);
  });

  void it("a node agent certificate from the CA syncs without a token; another CA's does not", async () => {
    const ok = await attempt({
      id: "ztunnel-cert",
      cert: await leafFor(root, spiffe("weft-system", "ztunnel")),
    });
    assert.equal(ok.status, undefined);
    assert.equal(ok.responses.length, 1);
    const foreign = await attempt({
      id: "ztunnel-foreign",
      cert: await leafFor(await newRoot(), spiffe("weft-system", "ztunnel")),
    });
    // TLS does not verify it, so the server sees no certificate at all.
    refused(foreign, grpc.status.UNAUTHENTICATED, /neither a bearer token nor a client certificate/);
  });

  void it("records identity, how it was established and the role per client; refused streams are not counted", () => {
    const dump = server.dump();
    const byId = (prefix: string) => dump.find((c) => c.id.startsWith(`${prefix}#`));
    assert.deepEqual(
      dump.map((c) => c.id.split("#")[0]).sort(),
      ["waypoint", "ztunnel-cert", "ztunnel-token"],
      "only admitted streams are held",
    );
    assert.deepEqual(
      (({ identity, authenticatedBy, role }) => ({ identity, authenticatedBy, role }))(
        byId("ztunnel-token")!,
      ),
      { identity: spiffe("weft-system", "ztunnel"), authenticatedBy: "token", role: "node-agent" },
    );
    assert.equal(byId("ztunnel-cert")?.authenticatedBy, "certificate");
    assert.equal(byId("waypoint")?.role, "waypoint");
    assert.equal(byId("waypoint")?.waypoint, "shop/waypoint");

    const connected = events.filter((e) => e.type === "connected").length;
    const disconnected = events.filter((e) => e.type === "disconnected").length;
    assert.equal(connected - disconnected, 3, "the clients gauge counts admitted streams only");
    assert.deepEqual(
      events.filter((e) => e.type === "denied").map((e) => (e.type === "denied" ? e.reason : "")),
      [
        "no_credentials",
        "token_unknown",
        "not_node_agent_or_waypoint",
        "waypoint_other_namespace",
        "no_credentials",
      ],
    );
  });
});
