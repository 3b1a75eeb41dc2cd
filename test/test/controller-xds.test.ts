// The real `weft-controller` process, over real gRPC/TLS on loopback: three delta xDS clients
// follow a config directory, one of them NACKs a resource, one resumes after a restart, and the
// CA answers on the same port. Every process and directory is cleaned up, even on failure.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { CaClient, IstioCertificateRequestSchema, TYPE_URL, type IstioCertificateResponse } from "@weft/api";
import { EC_P256, exportPrivateKeyPem, x509 } from "@weft/controller";
import {
  podYaml as sharedPodYaml,
  startControllerProcess,
  stopProcess,
  type ControllerProcess,
} from "@weft/test";
import {
  DeltaXdsClient,
  StateStore,
  addressHandler,
  authorizationHandler,
  type Resource,
  type XdsTypeHandler,
} from "@weft/state";

const SERVER_NAME = "weft-controller.weft-system.svc";
const CART_TOKEN = "cart-token-0123456789abcdef0123";
/** The node agent's token: weft-system/ztunnel is a trusted node agent by default. */
const ZTUNNEL_TOKEN = "ztunnel-token-0123456789abcdef01";
const ZTUNNEL_ID = "spiffe://cluster.local/ns/weft-system/sa/ztunnel";
const uid = (ns: string, name: string): string => `Kubernetes//Pod/${ns}/${name}`;

async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

function podYaml(ns: string, name: string, ip: string, sa = "default"): string {
  return sharedPodYaml({ name, ip, namespace: ns, serviceAccount: sa });
}

const BASE_CONFIG = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    weft.dev/dataplane-mode: ambient
---
apiVersion: weft.dev/v1alpha1
kind: WeftTokenList
metadata:
  name: tokens
  namespace: weft-system
tokens:
  - token: ${CART_TOKEN}
    serviceAccount: shop/cart
  - token: ${ZTUNNEL_TOKEN}
    serviceAccount: weft-system/ztunnel
    nodeName: node-a
`;

type Controller = ControllerProcess;
const startController = startControllerProcess;

/** A handler that refuses workloads whose name starts with "reject-": a data plane stricter than the controller. */
function strict(inner: XdsTypeHandler<Resource>): XdsTypeHandler<Resource> {
  return {
    typeUrl: inner.typeUrl,
    decode: (name, any) => {
      const r = inner.decode(name, any);
      if (r.kind === "workload" && r.workload.name.startsWith("reject-")) {
        throw new Error(`workload ${r.workload.name} refused by this data plane's policy`);
      }
      return r;
    },
    apply: (upserts, removes) => inner.apply(upserts, removes),
  };
}

interface TestClient {
  readonly name: string;
  readonly store: StateStore;
  readonly client: DeltaXdsClient;
  readonly nacked: string[];
}

void describe("weft-controller process: delta xDS and CA over one TLS port", () => {
  let configDir = "";
  let caDir = "";
  let controller: Controller | undefined;
  let rootPem = "";
  const clients: TestClient[] = [];

  function connect(
    name: string,
    opts: { strict?: boolean; store?: StateStore; resume?: DeltaXdsClient; tokenFile?: string } = {},
  ): TestClient {
    const store = opts.store ?? new StateStore();
    const address = addressHandler(store);
    const client = new DeltaXdsClient({
      address: controller!.xds,
      credentials: { kind: "tls", ca: rootPem, serverName: SERVER_NAME },
      ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : { token: ZTUNNEL_TOKEN }),
      node: { id: name },
      handlers: [opts.strict === true ? strict(address) : address, authorizationHandler(store)],
      backoff: { baseMs: 50, maxMs: 500 },
      ...(opts.resume !== undefined
        ? {
            resume: new Map([
              [TYPE_URL.Address, new Map(opts.resume.versions(TYPE_URL.Address))],
              [TYPE_URL.Authorization, new Map(opts.resume.versions(TYPE_URL.Authorization))],
            ]),
          }
        : {}),
    });
    const entry: TestClient = { name, store, client, nacked: [] };
    client.on("nacked", (e) => entry.nacked.push(...e.rejected.map((r) => r.name)));
    client.start();
    clients.push(entry);
    return entry;
  }

  const hasWorkload = (c: TestClient, id: string): boolean => c.store.current.workload(id) !== undefined;

  async function fetchText(path: string): Promise<string> {
    const res = await fetch(`${controller!.admin}${path}`);
    assert.equal(res.status, 200, `${path} answered ${res.status}`);
    return res.text();
  }

  function metric(text: string, name: string, labels = ""): number {
    const line = text
      .split("\n")
      .find((l) => l.startsWith(`${name}${labels} `) || (labels === "" && l.startsWith(`${name}{`)));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
  }

  before(async () => {
    configDir = await mkdtemp(join(tmpdir(), "weft-ctl-cfg-"));
    caDir = await mkdtemp(join(tmpdir(), "weft-ctl-ca-"));
    await writeFile(join(configDir, "base.yaml"), BASE_CONFIG);
    const pods = Array.from({ length: 20 }, (_, i) => podYaml("shop", `app-${i}`, `10.1.0.${i + 10}`)).join(
      "---\n",
    );
    await writeFile(join(configDir, "pods.yaml"), pods);
    controller = await startController(configDir, caDir);
    // A self-generated root signs directly: ca-cert.pem is the trust anchor.
    rootPem = await readFile(join(caDir, "ca-cert.pem"), "utf8");
    for (const name of ["ztunnel-a", "ztunnel-b", "ztunnel-strict"])
      connect(name, { strict: name === "ztunnel-strict" });
    await until("every client to hold the 20 pods", () =>
      clients.every((c) => c.store.current.workloads.size === 20),
    );
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.client.close()));
    if (controller !== undefined) await stopProcess(controller.proc);
    await rm(configDir, { recursive: true, force: true });
    await rm(caDir, { recursive: true, force: true });
  });

  void it("a pod added to the config dir reaches every client; deleting it removes it", async () => {
    const podTranslations = async (): Promise<number> =>
      metric(await fetchText("/metrics"), "weft_controller_translations_total", '{kind="pods"}');
    const before = await podTranslations();
    await writeFile(join(configDir, "new-pod.yaml"), podYaml("shop", "new-pod", "10.1.1.1"));
    await until("every client to see new-pod", () =>
      clients.every((c) => hasWorkload(c, uid("shop", "new-pod"))),
    );
    for (const c of clients) {
      assert.deepEqual(c.store.current.workload(uid("shop", "new-pod"))?.addresses, ["10.1.1.1"], c.name);
      assert.equal(c.store.current.workloadByAddress("", "10.1.1.1")?.name, "new-pod", c.name);
    }
    const dump = JSON.parse(await fetchText("/debug/config_dump")) as {
      resources: Record<string, { name: string }[]>;
      clients: { id: string }[];
    };
    assert.ok(dump.resources[TYPE_URL.Address]?.some((r) => r.name === uid("shop", "new-pod")));
    assert.equal(dump.clients.length, 3);

    await unlink(join(configDir, "new-pod.yaml"));
    await until("every client to drop new-pod", () =>
      clients.every((c) => !hasWorkload(c, uid("shop", "new-pod"))),
    );
    assert.ok(clients.every((c) => c.store.current.workloads.size === 20));
    // Both changes took the pod-by-pod path, and the full reconcile after them changed nothing.
    assert.equal((await podTranslations()) - before, 2);
    await until(
      "the reconcile translation",
      async () =>
        metric(await fetchText("/metrics"), "weft_controller_translations_total", '{kind="reconcile"}') >= 1,
    );
    assert.equal(metric(await fetchText("/metrics"), "weft_controller_translation_divergences_total"), 0);
  });

  void it("a resource one client refuses is NACKed there, the rest of the push applies, and it is not resent", async () => {
    const strictClient = clients.find((c) => c.name === "ztunnel-strict")!;
    const nacksBefore = metric(
      await fetchText("/metrics"),
      "weft_controller_xds_nacks_total",
      '{type="istio.workload.Address"}',
    );
    await writeFile(
      join(configDir, "mixed.yaml"),
      podYaml("shop", "reject-me", "10.1.2.1") + "---\n" + podYaml("shop", "fine", "10.1.2.2"),
    );
    await until("all clients to see 'fine'", () => clients.every((c) => hasWorkload(c, uid("shop", "fine"))));
    await until("the strict client to NACK reject-me", () =>
      strictClient.nacked.includes(uid("shop", "reject-me")),
    );
    assert.ok(!hasWorkload(strictClient, uid("shop", "reject-me")), "the refused workload is not applied");
    assert.ok(
      clients.filter((c) => c !== strictClient).every((c) => hasWorkload(c, uid("shop", "reject-me"))),
    );
    assert.ok(!strictClient.client.versions(TYPE_URL.Address).has(uid("shop", "reject-me")));

    // The controller counted and recorded it, and does not resend the refused version: the next
    // change brings the strict client exactly the changed pod.
    await until(
      "the NACK to be counted",
      async () =>
        metric(
          await fetchText("/metrics"),
          "weft_controller_xds_nacks_total",
          '{type="istio.workload.Address"}',
        ) > nacksBefore,
    );
    const dump = JSON.parse(await fetchText("/debug/config_dump")) as {
      clients: { id: string; types: Record<string, { rejected: Record<string, string>; nacks: number }> }[];
    };
    const view = dump.clients.find((c) => c.id.startsWith("ztunnel-strict"))?.types[TYPE_URL.Address];
    assert.ok(view !== undefined && view.nacks >= 1 && uid("shop", "reject-me") in view.rejected);

    const received: string[] = [];
    const listener = (e: { upserted: readonly string[] }): void => void received.push(...e.upserted);
    strictClient.client.on("applied", listener);
    await writeFile(join(configDir, "later.yaml"), podYaml("shop", "later", "10.1.3.1"));
    await until("the strict client to get 'later'", () => hasWorkload(strictClient, uid("shop", "later")));
    strictClient.client.off("applied", listener);
    assert.deepEqual(received, [uid("shop", "later")]);
    assert.equal(
      strictClient.nacked.filter((n) => n === uid("shop", "reject-me")).length,
      1,
      "NACKed once, not in a loop",
    );
  });

  void it("a client that reconnects with its versions gets only what changed while it was away", async () => {
    const b = clients.find((c) => c.name === "ztunnel-b")!;
    const held = b.store.current.workloads.size;
    await b.client.close();
    clients.splice(clients.indexOf(b), 1);
    // While b is away: one pod changes its IP, one is added, one removed.
    await writeFile(
      join(configDir, "pods.yaml"),
      Array.from({ length: 20 }, (_, i) =>
        i === 19 ? "" : podYaml("shop", `app-${i}`, i === 3 ? "10.1.9.3" : `10.1.0.${i + 10}`),
      )
        .filter((s) => s !== "")
        .join("---\n") +
        "---\n" +
        podYaml("shop", "app-new", "10.1.9.9"),
    );
    const a = clients.find((c) => c.name === "ztunnel-a")!;
    await until(
      "client a to see the changes",
      () => hasWorkload(a, uid("shop", "app-new")) && !hasWorkload(a, uid("shop", "app-19")),
    );

    const b2 = connect("ztunnel-b", { store: b.store, resume: b.client });
    await until(
      "b to catch up",
      () => hasWorkload(b2, uid("shop", "app-new")) && !hasWorkload(b2, uid("shop", "app-19")),
    );
    await until("b's initial responses for both types", () => b2.client.stats.responses >= 2);
    assert.equal(b2.client.stats.resourcesReceived, 2, "only app-3 (changed) and app-new (added) are resent");
    assert.equal(b2.client.stats.removalsReceived, 1, "app-19 is announced as removed");
    assert.deepEqual(b2.store.current.workload(uid("shop", "app-3"))?.addresses, ["10.1.9.3"]);
    assert.equal(b2.store.current.workloads.size, held);
  });

  void it("restarting the stream with nothing changed resends nothing", async () => {
    const a = clients.find((c) => c.name === "ztunnel-a")!;
    const before = { ...a.client.stats };
    a.client.restartStream();
    await until(
      "a to reconnect and get its initial responses",
      () =>
        a.client.stats.connects === before.connects + 1 && a.client.stats.responses >= before.responses + 2,
    );
    assert.equal(a.client.stats.resourcesReceived, before.resourcesReceived);
    assert.equal(a.client.stats.removalsReceived, before.removalsReceived);
  });

  void describe("CA on the same port", () => {
    let ca: CaClient;
    before(() => {
      ca = new CaClient(controller!.xds, grpc.credentials.createSsl(Buffer.from(rootPem)), {
        "grpc.ssl_target_name_override": SERVER_NAME,
        "grpc.default_authority": SERVER_NAME,
      });
    });
    after(() => ca.close());

    async function csr(san: string | undefined): Promise<string> {
      const keys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
      const req = await x509.Pkcs10CertificateRequestGenerator.create({
        keys,
        signingAlgorithm: EC_P256,
        extensions:
          san === undefined ? [] : [new x509.SubjectAlternativeNameExtension([{ type: "url", value: san }])],
      });
      return req.toString("pem");
    }

    function call(csrPem: string, token: string): Promise<IstioCertificateResponse> {
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${token}`);
      return new Promise((resolve, reject) =>
        ca.createCertificate(
          create(IstioCertificateRequestSchema, { csr: csrPem, validityDuration: 3600n }),
          md,
          (err, res) => (err ? reject(err) : resolve(res!)),
        ),
      );
    }

    async function refused(p: Promise<unknown>, code: grpc.status, message: RegExp): Promise<void> {
      await assert.rejects(p, (err: grpc.ServiceError) => {
        assert.equal(grpc.status[err.code], grpc.status[code], err.details);
        assert.match(err.details, message);
        return true;
      });
    }

    const CART = "spiffe://cluster.local/ns/shop/sa/cart";

    void it("issues a certificate for a valid CSR and file token, chain ending at the root", async () => {
      const res = await call(await csr(CART), CART_TOKEN);
      assert.ok(res.certChain.length >= 2);
      const leaf = new x509.X509Certificate(res.certChain[0]!);
      assert.deepEqual(
        leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value),
        [CART],
      );
      assert.equal(
        new x509.X509Certificate(res.certChain.at(-1)!).toString("pem"),
        new x509.X509Certificate(rootPem).toString("pem"),
      );
    });

    void it("refuses a CSR for another identity, an unknown token and a malformed CSR, and keeps serving", async () => {
      await refused(
        call(await csr("spiffe://cluster.local/ns/shop/sa/payments"), CART_TOKEN),
        grpc.status.PERMISSION_DENIED,
        /may only hold URI:spiffe:\/\/cluster.local\/ns\/shop\/sa\/cart/,
      );
      await refused(
        call(await csr(CART), "not-a-known-token-0123456789"),
        grpc.status.UNAUTHENTICATED,
        /token/i,
      );
      await refused(
        call(
          "-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all\n-----END CERTIFICATE REQUEST-----\n",
          CART_TOKEN,
        ),
        grpc.status.INVALID_ARGUMENT,
        /CSR/,
      );
      await refused(call("", CART_TOKEN), grpc.status.INVALID_ARGUMENT, /CSR/);
      // Still up: a good request right after works.
      const res = await call(await csr(CART), CART_TOKEN);
      assert.ok(res.certChain.length >= 2);
      assert.equal(controller!.proc.exitCode, null);
    });

    void it("/metrics counts pushes, NACKs, certificates and CA refusals", async () => {
      const text = await fetchText("/metrics");
      assert.ok(metric(text, "weft_controller_xds_pushes_total", '{type="istio.workload.Address"}') > 0);
      assert.ok(metric(text, "weft_controller_xds_nacks_total", '{type="istio.workload.Address"}') >= 1);
      assert.ok(metric(text, "weft_controller_ca_certificates_issued_total", '{impersonated="false"}') >= 2);
      assert.ok(metric(text, "weft_controller_ca_errors_total", '{reason="csr_san_refused"}') >= 1);
      assert.ok(metric(text, "weft_controller_xds_clients") >= 3);
      assert.match(text, /weft_controller_xds_push_latency_seconds_bucket/);
      const ready = await fetch(`${controller!.admin}/ready`);
      assert.equal(ready.status, 200);
    });
  });

  void describe("xDS authentication", () => {
    const extra: DeltaXdsClient[] = [];
    let tokenDir = "";
    before(async () => {
      tokenDir = await mkdtemp(join(tmpdir(), "weft-ctl-token-"));
    });
    after(async () => {
      await Promise.all(extra.map((c) => c.close()));
      await rm(tokenDir, { recursive: true, force: true });
    });

    /** A client outside `clients` (the drain test waits on those); closed after this suite. */
    function authClient(
      name: string,
      auth: { token?: string; tokenFile?: string; cert?: { chain: string; key: string } },
      store = new StateStore(),
    ): DeltaXdsClient {
      const client = new DeltaXdsClient({
        address: controller!.xds,
        credentials: {
          kind: "tls",
          ca: rootPem,
          serverName: SERVER_NAME,
          ...(auth.cert !== undefined ? { cert: auth.cert.chain, key: auth.cert.key } : {}),
        },
        ...(auth.token !== undefined ? { token: auth.token } : {}),
        ...(auth.tokenFile !== undefined ? { tokenFile: auth.tokenFile } : {}),
        node: { id: name },
        handlers: [addressHandler(store), authorizationHandler(store)],
        backoff: { baseMs: 50, maxMs: 200 },
      });
      extra.push(client);
      return client;
    }

    /** Starts a client and returns the reason of its first disconnect, then stops it. */
    async function refusal(client: DeltaXdsClient): Promise<string> {
      const reason = new Promise<string>((resolve) => client.once("disconnected", (e) => resolve(e.reason)));
      client.start();
      const got = await reason;
      await client.close();
      return got;
    }

    async function dumpClients(): Promise<
      { id: string; identity?: string; authenticatedBy: string; role?: string }[]
    > {
      return (JSON.parse(await fetchText("/debug/config_dump")) as { clients: [] }).clients;
    }

    void it("a client without a token or certificate ends UNAUTHENTICATED with how to fix it", async () => {
      const reason = await refusal(authClient("anonymous", {}));
      assert.match(reason, /^UNAUTHENTICATED: .*authorization: Bearer <token>.*client certificate/);
    });

    void it("an unknown token ends UNAUTHENTICATED", async () => {
      const reason = await refusal(authClient("stranger", { token: "not-a-known-token-0123456789" }));
      assert.match(reason, /^UNAUTHENTICATED: .*not known/);
    });

    void it("a valid token of a workload that is not a node agent ends PERMISSION_DENIED", async () => {
      const reason = await refusal(authClient("cart", { token: CART_TOKEN }));
      assert.match(reason, /^PERMISSION_DENIED: spiffe:\/\/cluster.local\/ns\/shop\/sa\/cart may not read/);
      assert.match(reason, /WEFT_CA_TRUSTED_NODE_AGENTS/);
      const dump = await dumpClients();
      assert.ok(!dump.some((c) => c.id.startsWith("cart#")), "refused clients are not held");
    });

    void it("a node agent's token syncs, and the dump records its identity", async () => {
      const store = new StateStore();
      const client = authClient("agent-token", { token: ZTUNNEL_TOKEN }, store);
      client.start();
      await until("the node agent to sync", () => store.current.workloads.size >= 20);
      const entry = (await dumpClients()).find((c) => c.id.startsWith("agent-token#"));
      assert.deepEqual(
        { identity: entry?.identity, authenticatedBy: entry?.authenticatedBy, role: entry?.role },
        { identity: ZTUNNEL_ID, authenticatedBy: "token", role: "node-agent" },
      );
    });

    void it("the token file is read again on reconnect (a rotated projected token)", async () => {
      const file = join(tokenDir, "token");
      await writeFile(file, "stale-token-0123456789abcdef\n");
      const store = new StateStore();
      const client = authClient("agent-file", { tokenFile: file }, store);
      const refused = new Promise<string>((resolve) => client.once("disconnected", (e) => resolve(e.reason)));
      client.start();
      assert.match(await refused, /^UNAUTHENTICATED/);
      await writeFile(file, `${ZTUNNEL_TOKEN}\n`);
      await until("the node agent to sync with the rotated token", () => store.current.workloads.size >= 20);
    });

    void it("a client certificate from the CA for the node agent identity syncs without a token", async () => {
      // Get the certificate the way a ztunnel does: CSR + token to the CA over gRPC on the same port.
      const ca = new CaClient(controller!.xds, grpc.credentials.createSsl(Buffer.from(rootPem)), {
        "grpc.ssl_target_name_override": SERVER_NAME,
        "grpc.default_authority": SERVER_NAME,
      });
      const keys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        keys,
        signingAlgorithm: EC_P256,
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: ZTUNNEL_ID }])],
      });
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${ZTUNNEL_TOKEN}`);
      let res: IstioCertificateResponse;
      try {
        res = await new Promise<IstioCertificateResponse>((resolve, reject) =>
          ca.createCertificate(
            create(IstioCertificateRequestSchema, { csr: csr.toString("pem"), validityDuration: 3600n }),
            md,
            (err, r) => (err ? reject(err) : resolve(r!)),
          ),
        );
      } finally {
        ca.close();
      }
      const store = new StateStore();
      const client = authClient(
        "agent-cert",
        { cert: { chain: res.certChain.join(""), key: await exportPrivateKeyPem(keys.privateKey) } },
        store,
      );
      client.start();
      await until("the node agent to sync by certificate", () => store.current.workloads.size >= 20);
      const entry = (await dumpClients()).find((c) => c.id.startsWith("agent-cert#"));
      assert.deepEqual(
        { identity: entry?.identity, authenticatedBy: entry?.authenticatedBy, role: entry?.role },
        { identity: ZTUNNEL_ID, authenticatedBy: "certificate", role: "node-agent" },
      );
    });
  });

  void it("drains on SIGTERM: clients are disconnected and the process exits 0", async () => {
    const proc = controller!.proc;
    const disconnected = Promise.all(
      clients.map((c) => new Promise<void>((resolve) => c.client.once("disconnected", () => resolve()))),
    );
    const exit = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    process.kill(proc.pid!, "SIGTERM");
    assert.equal(await exit, 0, controller!.logs.slice(-5).join("\n"));
    await disconnected;
    assert.ok(controller!.logs.some((l) => l.includes('"msg":"weft-controller stopped"')));
  });
});

void describe("weft-controller --insecure-xds-no-auth", () => {
  void it("serves an unauthenticated client, and says loudly that it does", async () => {
    const configDir = await mkdtemp(join(tmpdir(), "weft-ctl-cfg-"));
    const caDir = await mkdtemp(join(tmpdir(), "weft-ctl-ca-"));
    let controller: Controller | undefined;
    let client: DeltaXdsClient | undefined;
    try {
      await writeFile(join(configDir, "base.yaml"), BASE_CONFIG);
      await writeFile(join(configDir, "pod.yaml"), podYaml("shop", "only", "10.1.0.1"));
      controller = await startController(configDir, caDir, ["--insecure-xds-no-auth"]);
      const warning = controller.logs.find((l) => l.includes("xDS AUTHENTICATION IS OFF"));
      assert.ok(warning !== undefined, "the controller warns that xDS is unauthenticated");
      assert.equal((JSON.parse(warning) as { level: string }).level, "warn", "logged at warn level");
      const store = new StateStore();
      client = new DeltaXdsClient({
        address: controller.xds,
        credentials: {
          kind: "tls",
          ca: await readFile(join(caDir, "ca-cert.pem"), "utf8"),
          serverName: SERVER_NAME,
        },
        node: { id: "debugger" },
        handlers: [addressHandler(store), authorizationHandler(store)],
        backoff: { baseMs: 50, maxMs: 200 },
      });
      client.start();
      await until("the anonymous client to sync", () => store.current.workloads.size === 1);
      const dump = (await (await fetch(`${controller.admin}/debug/config_dump`)).json()) as {
        xdsAuth: string;
        clients: { authenticatedBy: string }[];
      };
      assert.equal(dump.xdsAuth, "disabled");
      assert.deepEqual(
        dump.clients.map((c) => c.authenticatedBy),
        ["none"],
      );
    } finally {
      await client?.close();
      if (controller !== undefined) await stopProcess(controller.proc);
      await rm(configDir, { recursive: true, force: true });
      await rm(caDir, { recursive: true, force: true });
    }
  });
});
