// The identity manager's logic against an in-process issuer over the test CA: real keys, real
// certificates and real TLS contexts, but no network to the CA (identity-ca.test.ts has that).
// Short certificate lifetimes make refreshes happen during the test; every assertion is about
// outcomes (a new serial, a context still accepted), never about how fast something happened.
import { describe, it, before, afterEach } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { isWeftError, type WeftError } from "@weft/core";
import {
  FetchQueue,
  IdentityManager,
  generateKeyAndCsr,
  type IdentityManagerOptions,
} from "../src/identity/index.js";
import { x509 } from "../src/identity/x509.js";
import type { MeshTlsContext } from "../src/tls/index.js";
import { createTestCa, spiffe, type TestCa } from "./helpers/pki.js";
import { FakeIssuer, caUnavailable, handshake, until } from "./helpers/identity.js";

const WEB = spiffe("shop", "web");
const CART = spiffe("shop", "cart");
const PAY = spiffe("shop", "payments");
const DB = spiffe("data", "db");

/** The next `rotated` event for `identity`. */
async function nextRotation(
  m: IdentityManager,
  identity: string,
): Promise<{ context: MeshTlsContext; previous: MeshTlsContext | undefined }> {
  return new Promise((resolve) => {
    const listener = (id: string, context: MeshTlsContext, previous: MeshTlsContext | undefined): void => {
      if (id !== identity) return;
      m.off("rotated", listener);
      resolve({ context, previous });
    };
    m.on("rotated", listener);
  });
}

function serialOf(context: MeshTlsContext): string {
  const chain = context.credentials.certChainPem;
  return new X509Certificate(typeof chain === "string" ? chain : chain[0]!).serialNumber;
}

void describe("generateKeyAndCsr", () => {
  void it("makes a P-256 key and a self-signed CSR whose only SAN is the SPIFFE URI", async () => {
    const { keyPem, csrPem } = await generateKeyAndCsr(WEB);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    assert.ok(await csr.verify(), "the CSR is signed with its own key");
    const sans = csr.extensions.filter((e) => e.type === "2.5.29.17");
    assert.equal(sans.length, 1, "one subjectAltName extension");
    const names = new x509.SubjectAlternativeNameExtension(sans[0]!.rawData).names.items;
    assert.deepEqual(
      names.map((n) => [n.type, n.value]),
      [["url", WEB]],
    );
    assert.equal(csr.extensions.length, 1, "no other extension is requested");
    assert.equal((csr.publicKey.algorithm as { namedCurve?: string }).namedCurve, "P-256");

    const key = createPrivateKey(keyPem);
    assert.equal(key.asymmetricKeyType, "ec");
    assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
    const fromKey = createPublicKey(key).export({ type: "spki", format: "der" });
    assert.ok(fromKey.equals(Buffer.from(csr.publicKey.rawData)), "the key is the CSR's key");
  });

  void it("a fresh key every time, and refuses a non-SPIFFE identity", async () => {
    const a = await generateKeyAndCsr(WEB);
    const b = await generateKeyAndCsr(WEB);
    assert.notEqual(a.keyPem, b.keyPem);
    await assert.rejects(generateKeyAndCsr("https://example.com/web"), /WEFT_E_INVALID_INPUT/);
  });
});

void describe("FetchQueue", () => {
  void it("runs at most maxConcurrent items, high before low, and promotes a queued low item", async () => {
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    const queue = new FetchQueue<string>(2, (item) => {
      started.push(item);
      return new Promise<void>((resolve) => finish.set(item, resolve));
    });
    for (const item of ["a", "b", "c", "d"]) queue.enqueue(item, "low");
    queue.enqueue("e", "high");
    queue.enqueue("d", "high"); // promoted behind e
    queue.enqueue("c", "low"); // already queued: no change
    queue.enqueue("a", "high"); // already running: no change
    await until("two items to start", () => started.length === 2);
    assert.equal(queue.running, 2);
    assert.equal(queue.priorityOf("d"), "high");
    assert.equal(queue.priorityOf("c"), "low");
    for (let i = 0; i < 3; i++) {
      const running = started.filter((s) => finish.has(s));
      const first = running[0]!;
      finish.get(first)!();
      finish.delete(first);
      await until(`item ${i + 3} to start`, () => started.length === i + 3);
    }
    assert.deepEqual(started, ["a", "b", "e", "d", "c"]);
    for (const f of finish.values()) f();
    queue.close();
  });

  void it("a removed item never starts; closing drops the queue", async () => {
    const started: string[] = [];
    let release: () => void = () => undefined;
    const queue = new FetchQueue<string>(1, (item) => {
      started.push(item);
      return new Promise<void>((resolve) => (release = resolve));
    });
    queue.enqueue("a", "low");
    queue.enqueue("b", "low");
    queue.enqueue("c", "low");
    queue.remove("b");
    await until("a to start", () => started.length === 1);
    release();
    await until("c to start", () => started.length === 2);
    queue.close();
    queue.enqueue("d", "high");
    release();
    await sleep(20);
    assert.deepEqual(started, ["a", "c"]);
    assert.equal(queue.queued, 0);
  });
});

void describe("IdentityManager", () => {
  let ca: TestCa;
  let otherCa: TestCa;
  const managers: IdentityManager[] = [];
  before(async () => {
    ca = await createTestCa("identity test root");
    otherCa = await createTestCa("identity test root 2");
  });
  afterEach(() => {
    for (const m of managers.splice(0)) m.close();
  });

  function manager(issuer: FakeIssuer, opts: Partial<IdentityManagerOptions> = {}): IdentityManager {
    const m = new IdentityManager({
      issuer,
      certTtlSeconds: 3600,
      retryBackoff: { baseMs: 20, maxMs: 100, jitter: "none" },
      ...opts,
    });
    managers.push(m);
    return m;
  }

  void it("concurrent get()s share one fetch; later get()s return the cached context", async () => {
    const issuer = new FakeIssuer(ca);
    issuer.hold = true;
    const m = manager(issuer);
    const waiting = [m.get(WEB), m.get(WEB), m.get(WEB)];
    await until("the fetch to reach the CA", () => issuer.held === 1);
    assert.equal(m.certificates()[0]?.state, "fetching");
    assert.equal(m.certificates()[0]?.priority, "high");
    assert.equal(m.current(WEB), undefined);
    issuer.releaseAll();
    const contexts = await Promise.all(waiting);
    assert.equal(issuer.calls.length, 1);
    assert.ok(contexts.every((c) => c === contexts[0]));
    assert.equal(await m.get(WEB), contexts[0]);
    assert.equal(m.current(WEB), contexts[0]);
    assert.equal(issuer.calls.length, 1);
    assert.deepEqual(issuer.calls[0], { identity: WEB, ttlSeconds: 3600 });

    const [status] = m.certificates();
    assert.equal(status?.state, "valid");
    assert.equal(status?.serial, serialOf(contexts[0]!));
    assert.ok(status?.notAfter !== undefined && Date.parse(status.notAfter) > Date.now());
    assert.equal(status?.failures, 0);
    assert.equal(status?.priority, undefined);
    assert.deepEqual(m.trustBundle(), [ca.rootPem]);
  });

  void it("the context is real: two identities complete an mTLS handshake with it", async () => {
    const m = manager(new FakeIssuer(ca));
    const [web, cart] = await Promise.all([m.get(WEB), m.get(CART)]);
    assert.equal(await handshake(web, cart, CART), WEB);
    assert.equal(await handshake(cart, web, WEB), CART);
  });

  void it("on-path get()s jump ahead of queued prefetches", async () => {
    const issuer = new FakeIssuer(ca);
    issuer.hold = true;
    const m = manager(issuer, { maxConcurrentFetches: 1 });
    m.prefetch(WEB); // takes the only slot
    await until("the first prefetch to reach the CA", () => issuer.held === 1);
    m.prefetch(CART);
    m.prefetch(PAY);
    const db = m.get(DB);
    const pay = m.get(PAY); // a queued prefetch that a connection now waits for
    assert.deepEqual(
      m.certificates().map((s) => [s.identity, s.priority]),
      [
        [DB, "high"],
        [CART, "low"],
        [PAY, "high"],
        [WEB, "low"],
      ],
    );
    issuer.hold = false;
    issuer.releaseAll();
    await Promise.all([db, pay]);
    await until("every fetch to finish", () => m.certificates().every((s) => s.state === "valid"));
    assert.deepEqual(
      issuer.calls.map((c) => c.identity),
      [WEB, DB, PAY, CART],
    );
  });

  void it("refreshes at half-life: a new serial appears and the old context still handshakes", async () => {
    const issuer = new FakeIssuer(ca);
    // A 6 s lifetime, refreshed at exactly half of it (jitter pinned to 0).
    const m = manager(issuer, { certTtlSeconds: 6, random: () => 0 });
    const rotation = nextRotation(m, WEB);
    const first = await m.get(WEB);
    assert.equal((await rotation).previous, undefined, "first issuance");
    const status = m.certificates()[0]!;
    const lifetime = Date.parse(status.notAfter!) - Date.now();
    assert.ok(
      Date.parse(status.nextAttemptAt!) < Date.parse(status.notAfter!) - lifetime / 3,
      "the refresh is scheduled well before expiry",
    );

    const { context: second, previous } = await nextRotation(m, WEB);
    assert.equal(previous, first);
    assert.notEqual(serialOf(second), serialOf(first));
    assert.equal(m.current(WEB), second);
    assert.equal(await m.get(WEB), second);
    assert.equal(issuer.callsFor(WEB), 2);
    assert.notEqual(second.credentials.keyPem, first.credentials.keyPem, "a refresh rotates the key");
    // Connections still holding the old context keep working, in both directions.
    assert.equal(await handshake(first, second, WEB), WEB);
    assert.equal(await handshake(second, first, WEB), WEB);
  });

  void it("a failed fetch rejects its waiters, backs off, retries and then succeeds", async () => {
    const issuer = new FakeIssuer(ca);
    issuer.failures.push(caUnavailable(), caUnavailable());
    const m = manager(issuer);
    const failures: WeftError[] = [];
    m.on("failed", (id, err) => id === WEB && failures.push(err));
    const rotation = nextRotation(m, WEB);
    await assert.rejects(m.get(WEB), (err: unknown) => isWeftError(err, "WEFT_E_UNAVAILABLE"));
    const afterFailure = m.certificates()[0]!;
    assert.ok(afterFailure.state === "failed" || afterFailure.state === "fetching");
    assert.match(afterFailure.lastError ?? "", /the test CA is down/);
    assert.equal(afterFailure.lastErrorCode, "WEFT_E_UNAVAILABLE");

    const { context } = await rotation;
    assert.equal(failures.length, 2);
    assert.equal(issuer.callsFor(WEB), 3);
    assert.equal(await m.get(WEB), context);
    const status = m.certificates()[0]!;
    assert.equal(status.state, "valid");
    assert.equal(status.failures, 0);
    assert.equal(status.lastError, undefined);
  });

  void it("a failed refresh keeps the current context in use until the retry succeeds", async () => {
    const issuer = new FakeIssuer(ca);
    const m = manager(issuer, { certTtlSeconds: 4, random: () => 0 });
    const first = await m.get(WEB);
    issuer.failures.push(caUnavailable());
    const [, err] = (await once(m, "failed")) as [string, WeftError];
    assert.equal(err.code, "WEFT_E_UNAVAILABLE");
    assert.equal(m.current(WEB), first, "still served while the refresh is retried");
    assert.equal(await m.get(WEB), first);
    const status = m.certificates()[0]!;
    assert.equal(status.state, "refreshing");
    assert.equal(status.failures, 1);
    const { context, previous } = await nextRotation(m, WEB);
    assert.equal(previous, first);
    assert.notEqual(serialOf(context), serialOf(first));
  });

  void it("a certificate that expires without a replacement is reported and no longer served", async () => {
    const issuer = new FakeIssuer(ca);
    const m = manager(issuer, { certTtlSeconds: 1, retryBackoff: { baseMs: 200, maxMs: 400 } });
    await m.get(WEB);
    // A trust bundle change rebuilds the context; the rebuilt one expires with its certificate.
    m.setExtraRoots([otherCa.rootPem]);
    issuer.failAlways = caUnavailable();
    const expired = await new Promise<WeftError>((resolve) =>
      m.on("failed", (_id, err) => err.code === "WEFT_E_TLS" && resolve(err)),
    );
    assert.match(expired.message, /expired at .* without a replacement/);
    assert.match(expired.message, /the test CA is down/, "names the cause of the failed refreshes");
    assert.equal(m.current(WEB), undefined);
    assert.notEqual(m.certificates()[0]?.state, "valid");
    // Once the CA is back, the identity recovers by itself.
    issuer.failAlways = undefined;
    const { context } = await nextRotation(m, WEB);
    assert.equal(m.current(WEB), context);
  });

  void it("release() stops refreshes, drops the certificate and rejects waiting get()s", async () => {
    const issuer = new FakeIssuer(ca);
    const m = manager(issuer, { certTtlSeconds: 1 });
    await m.get(WEB);
    m.release(WEB);
    assert.equal(m.current(WEB), undefined);
    assert.deepEqual(m.certificates(), []);
    // Past the point where the 1 s certificate would have been refreshed (and expired).
    await sleep(1200);
    assert.equal(issuer.callsFor(WEB), 1, "no refresh after release");

    issuer.hold = true;
    const waiting = m.get(CART);
    await until("the fetch to reach the CA", () => issuer.held === 1);
    m.release(CART);
    await assert.rejects(waiting, (err: unknown) => isWeftError(err, "WEFT_E_ABORTED"));
    issuer.releaseAll();
    await sleep(20);
    assert.equal(m.current(CART), undefined, "a fetch that finishes after release is discarded");
    assert.deepEqual(m.certificates(), []);
  });

  void it("a new root from the CA joins the trust bundle; every context is rebuilt with it", async () => {
    const issuer = new FakeIssuer(ca);
    const m = manager(issuer, { certTtlSeconds: 4, random: () => 0 });
    const web1 = await m.get(WEB);
    const cart1 = await m.get(CART);
    assert.deepEqual(m.trustBundle(), [ca.rootPem]);

    // The CA rotates its root; web's next certificate is signed by the new one. Cart's refresh
    // fails, so the only new cart context is the rebuild the bundle change causes.
    issuer.caFor = (identity) => (identity === WEB ? otherCa : ca);
    issuer.failFor = (identity) => (identity === CART ? caUnavailable() : undefined);
    const bundleChanged = once(m, "trustBundleChanged") as Promise<[readonly string[]]>;
    const cartRotation = nextRotation(m, CART);
    const webRotation = nextRotation(m, WEB);
    const [roots] = await bundleChanged;
    assert.deepEqual(roots, [ca.rootPem, otherCa.rootPem], "old and new roots during the overlap");
    assert.deepEqual(m.trustBundle(), roots);
    const { context: web2 } = await webRotation;
    const { context: cart2, previous } = await cartRotation;
    assert.equal(previous, cart1);
    assert.equal(serialOf(cart2), serialOf(cart1), "same certificate, rebuilt with the new bundle");
    assert.deepEqual(cart2.credentials.trustBundlePem, roots);

    // Both directions across the two roots work with the rebuilt contexts...
    assert.equal(await handshake(cart2, web2, WEB), CART);
    assert.equal(await handshake(web2, cart2, CART), WEB);
    // ...which the old context could not do: it trusted only the old root.
    await assert.rejects(handshake(cart1, web2, WEB));
    assert.notEqual(web1, web2);
  });

  void it("an old root leaves the bundle once no certificate uses it and its retention has passed", async () => {
    const issuer = new FakeIssuer(ca);
    const m = manager(issuer, { certTtlSeconds: 3, random: () => 0, rootRetentionMs: 1 });
    await m.get(WEB);
    issuer.caFor = () => otherCa;
    const bundles: (readonly string[])[] = [];
    m.on("trustBundleChanged", (roots) => bundles.push(roots));
    await until("the old root to be dropped", () => bundles.length === 2);
    assert.deepEqual(bundles, [[ca.rootPem, otherCa.rootPem], [otherCa.rootPem]]);
    assert.deepEqual(m.current(WEB)?.credentials.trustBundlePem, [otherCa.rootPem]);
  });

  void it("configured extra roots are trusted from the start and changes rebuild contexts", async () => {
    const m = manager(new FakeIssuer(ca), { extraRoots: [otherCa.rootPem] });
    const web = await m.get(WEB);
    assert.deepEqual(m.trustBundle(), [otherCa.rootPem, ca.rootPem]);
    assert.deepEqual(web.credentials.trustBundlePem, [otherCa.rootPem, ca.rootPem]);
    const rotation = nextRotation(m, WEB);
    m.setExtraRoots([]);
    const { context, previous } = await rotation;
    assert.equal(previous, web);
    assert.deepEqual(context.credentials.trustBundlePem, [ca.rootPem]);
    assert.throws(() => m.setExtraRoots(["not a certificate"]), /WEFT_E_CONFIG/);
    assert.deepEqual(m.trustBundle(), [ca.rootPem], "a refused bundle changes nothing");
  });

  void it("refuses a certificate for another identity from any issuer", async () => {
    const issuer = new FakeIssuer(ca);
    issuer.leafIdentity = () => spiffe("kube-system", "admin");
    const m = manager(issuer, { retryBackoff: { baseMs: 60_000, maxMs: 60_000 } });
    await assert.rejects(m.get(WEB), (err: unknown) => {
      assert.ok(isWeftError(err, "WEFT_E_TLS"));
      assert.match(err.message, /leaf names spiffe:\/\/cluster.local\/ns\/kube-system\/sa\/admin/);
      return true;
    });
    assert.equal(m.current(WEB), undefined);
  });

  void it("prefetch() keeps an identity refreshed, even when a listener throws", async () => {
    const issuer = new FakeIssuer(ca);
    const m = manager(issuer, { certTtlSeconds: 2 });
    const rotations: string[] = [];
    m.on("rotated", (_id, context) => {
      rotations.push(serialOf(context));
      throw new Error("a careless listener");
    });
    m.prefetch(WEB);
    m.prefetch(WEB); // already tracked: no second fetch
    await until("two certificates in a row", () => rotations.length === 2);
    assert.equal(issuer.callsFor(WEB), 2);
    assert.notEqual(rotations[0], rotations[1]);
    assert.equal(m.certificates()[0]?.state, "valid");
    assert.equal(serialOf(await m.get(WEB)), rotations[1]);
  });

  void it("close() rejects waiting get()s and later calls with WEFT_E_UNAVAILABLE", async () => {
    const issuer = new FakeIssuer(ca);
    issuer.hold = true;
    const m = manager(issuer);
    const waiting = m.get(WEB);
    await until("the fetch to reach the CA", () => issuer.held === 1);
    m.close();
    await assert.rejects(waiting, (err: unknown) => isWeftError(err, "WEFT_E_UNAVAILABLE"));
    await assert.rejects(m.get(WEB), (err: unknown) => isWeftError(err, "WEFT_E_UNAVAILABLE"));
    issuer.releaseAll();
    await sleep(20);
    assert.equal(m.current(WEB), undefined);
    assert.deepEqual(m.certificates(), []);
    assert.throws(() => new IdentityManager({ issuer, certTtlSeconds: 0 }), /WEFT_E_INVALID_INPUT/);
  });

  void it("get() of a non-SPIFFE id rejects without tracking it", async () => {
    const m = manager(new FakeIssuer(ca));
    await assert.rejects(m.get("spiffe://cluster.local/web"), /WEFT_E_INVALID_INPUT/);
    assert.throws(() => m.prefetch("web"), /WEFT_E_INVALID_INPUT/);
    assert.deepEqual(m.certificates(), []);
  });
});
