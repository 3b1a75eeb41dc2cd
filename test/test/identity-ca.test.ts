// ztunnel's IdentityManager against the real `weft-controller` process (file config source, CA on
// the xDS port, gRPC/TLS on loopback), authenticated as the node agent of node-a: identities of
// pods on node-a are issued and work in a real mesh handshake; an identity whose pods run only on
// node-b and an unknown token are refused with errors that say why; the controller stays up.
// Every process and directory is cleaned up, even on failure.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type tls from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { isWeftError } from "@weft/core";
import {
  IdentityManager,
  connectMeshTls,
  createCaIssuer,
  createMeshTlsServer,
  generateKeyAndCsr,
  verifyClientPeer,
  type CertificateIssuer,
  type MeshTlsContext,
} from "@weft/ztunnel";
import {
  podYaml as sharedPodYaml,
  startControllerProcess,
  stopProcess,
  type ControllerProcess,
} from "@weft/test";

const SERVER_NAME = "weft-controller.weft-system.svc";
/** The node agent of node-a: weft-system/ztunnel is a trusted node agent by default. */
const ZTUNNEL_TOKEN = "ztunnel-node-a-token-0123456789abcdef";
const CART = "spiffe://cluster.local/ns/shop/sa/cart";
const WEB = "spiffe://cluster.local/ns/shop/sa/web";
const PAYMENTS = "spiffe://cluster.local/ns/shop/sa/payments";

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

function podYaml(name: string, ip: string, sa: string, nodeName: string): string {
  return sharedPodYaml({ name, ip, serviceAccount: sa, nodeName });
}

const CONFIG = `apiVersion: v1
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
  - token: ${ZTUNNEL_TOKEN}
    serviceAccount: weft-system/ztunnel
    nodeName: node-a
---
${podYaml("cart-0", "10.1.0.10", "cart", "node-a")}---
${podYaml("web-0", "10.1.0.11", "web", "node-a")}---
${podYaml("payments-0", "10.1.0.20", "payments", "node-b")}`;

function leafOf(context: MeshTlsContext): X509Certificate {
  const chain = context.credentials.certChainPem;
  return new X509Certificate(typeof chain === "string" ? chain : chain[0]!);
}

/** A real mesh handshake: `server` serves on loopback, `client` connects expecting `serverIdentity`. */
async function handshake(
  client: MeshTlsContext,
  server: MeshTlsContext,
  serverIdentity: string,
): Promise<string> {
  const tlsServer = createMeshTlsServer(server.credentials);
  const verified: string[] = [];
  tlsServer.on("secureConnection", (socket: tls.TLSSocket) => {
    const peer = verifyClientPeer(socket, "cluster.local");
    verified.push(peer.ok ? peer.uri : `refused: ${peer.reason}`);
    socket.end();
  });
  tlsServer.on("tlsClientError", () => {});
  const tcp = net.createServer((raw) => tlsServer.emit("connection", raw));
  tcp.listen(0, "127.0.0.1");
  await once(tcp, "listening");
  try {
    const socket = await connectMeshTls({
      host: "127.0.0.1",
      port: (tcp.address() as net.AddressInfo).port,
      secureContext: client.clientContext,
      expectedIdentities: [serverIdentity],
    });
    socket.on("error", () => {});
    await once(socket, "close");
    await until("the server to verify the client", () => verified.length > 0);
    return verified[0]!;
  } finally {
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}

void describe("IdentityManager against the real controller's CA", () => {
  let configDir = "";
  let caDir = "";
  let tokenDir = "";
  let controller: ControllerProcess | undefined;
  let rootPem = "";
  let issuer: CertificateIssuer | undefined;
  let manager: IdentityManager | undefined;
  const others: CertificateIssuer[] = [];

  before(async () => {
    configDir = await mkdtemp(join(tmpdir(), "weft-id-cfg-"));
    caDir = await mkdtemp(join(tmpdir(), "weft-id-ca-"));
    tokenDir = await mkdtemp(join(tmpdir(), "weft-id-token-"));
    await writeFile(join(configDir, "config.yaml"), CONFIG);
    const tokenFile = join(tokenDir, "token");
    await writeFile(tokenFile, `${ZTUNNEL_TOKEN}\n`);
    controller = await startControllerProcess(configDir, caDir);
    // A self-generated root signs directly: ca-cert.pem is the trust anchor.
    rootPem = await readFile(join(caDir, "ca-cert.pem"), "utf8");
    issuer = createCaIssuer({
      address: controller.xds,
      caRootPem: rootPem,
      serverName: SERVER_NAME,
      tokenFile,
    });
    manager = new IdentityManager({
      issuer,
      certTtlSeconds: 3600,
      // Refused identities are retried in the background; slowly, so the log stays readable.
      retryBackoff: { baseMs: 5_000, maxMs: 10_000 },
    });
  });

  after(async () => {
    manager?.close();
    issuer?.close();
    for (const i of others) i.close();
    if (controller !== undefined) await stopProcess(controller.proc);
    for (const dir of [configDir, caDir, tokenDir]) await rm(dir, { recursive: true, force: true });
  });

  void it("issues a pod's identity on node-a: the chain verifies to the root and names the SA", async () => {
    const cart = await manager!.get(CART);
    const leaf = leafOf(cart);
    const root = new X509Certificate(rootPem);
    assert.equal(leaf.subjectAltName, `URI:${CART}`);
    assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey), "the leaf is signed by the CA root");
    assert.ok(leaf.validToDate.getTime() > Date.now());
    assert.deepEqual(
      manager!.trustBundle().map((pem) => new X509Certificate(pem).fingerprint256),
      [root.fingerprint256],
      "the trust bundle is the controller's root",
    );
    const [status] = manager!.certificates();
    assert.equal(status?.identity, CART);
    assert.equal(status?.state, "valid");
    assert.equal(status?.serial, leaf.serialNumber);

    // Two identities of node-a authenticate each other with what the CA issued.
    const web = await manager!.get(WEB);
    assert.equal(await handshake(web, cart, CART), WEB);
    assert.equal(await handshake(cart, web, WEB), CART);
  });

  void it("refuses an identity whose pods run only on node-b, saying so", async () => {
    await assert.rejects(manager!.get(PAYMENTS), (err: unknown) => {
      assert.ok(isWeftError(err, "WEFT_E_CA_PERMISSION_DENIED"), String(err));
      assert.match(err.message, /refused to issue spiffe:\/\/cluster.local\/ns\/shop\/sa\/payments/);
      assert.match(err.message, /node-a/, "names the agent's node");
      assert.match(err.message, /node-b/, "names where the pods are");
      assert.match(err.message, /pods scheduled on its own node/, "says what to fix");
      return true;
    });
    assert.equal(manager!.current(PAYMENTS), undefined);
    const status = manager!.certificates().find((s) => s.identity === PAYMENTS);
    assert.equal(status?.state, "failed");
    assert.equal(status?.lastErrorCode, "WEFT_E_CA_PERMISSION_DENIED");
  });

  void it("refuses an unknown token as an authentication problem", async () => {
    const stranger = createCaIssuer({
      address: controller!.xds,
      caRootPem: rootPem,
      token: "not-a-known-token-0123456789abcdef",
    });
    others.push(stranger);
    const { csrPem } = await generateKeyAndCsr(CART);
    await assert.rejects(stranger.issue(CART, csrPem, 3600), (err: unknown) => {
      assert.ok(isWeftError(err, "WEFT_E_CA_UNAUTHENTICATED"), String(err));
      assert.match(err.message, /did not accept this agent's token/);
      return true;
    });
  });

  void it("the controller stays up and keeps issuing after the refusals", async () => {
    assert.equal(controller!.proc.exitCode, null);
    const { csrPem } = await generateKeyAndCsr(WEB);
    const chain = await issuer!.issue(WEB, csrPem, 600);
    assert.equal(new X509Certificate(chain[0]!).subjectAltName, `URI:${WEB}`);
    assert.equal(controller!.proc.exitCode, null);
  });
});
