// ztunnel's IdentityManager against the real `weft-controller` process (file config source, CA on
// the xDS port, gRPC/TLS on loopback), authenticated as the node agent of node-a: identities of
// pods on node-a are issued and work in a real mesh handshake; an identity whose pods run only on
// node-b and an unknown token are refused with errors that say why; the controller stays up.
// Every process and directory is cleaned up, even on failure.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type tls from "node:tls";
import { fileURLToPath } from "node:url";
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

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const NODE = join(ROOT, "node_modules/.bin/node");
const MAIN = join(ROOT, "controller/dist/src/main.js");
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
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: shop
  labels: { app: ${name} }
spec:
  nodeName: ${nodeName}
  serviceAccountName: ${sa}
  containers: [{ name: app }]
status:
  phase: Running
  podIP: ${ip}
  conditions: [{ type: Ready, status: "True" }]
`;
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

interface Controller {
  readonly proc: ChildProcess;
  readonly address: string;
  readonly logs: string[];
}

async function startController(configDir: string, caDir: string): Promise<Controller> {
  const proc = spawn(
    NODE,
    [
      MAIN,
      "--config-dir",
      configDir,
      "--ca-dir",
      caDir,
      "--xds-address",
      "127.0.0.1:0",
      "--admin-address",
      "127.0.0.1:0",
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WEFT_LOG_LEVEL: "info" } },
  );
  const logs: string[] = [];
  let xdsPort: number | undefined;
  let buffered = "";
  proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; xdsPort?: number };
        if (entry.msg === "weft-controller serving" && entry.xdsPort) xdsPort = entry.xdsPort;
      } catch {
        /* not JSON */
      }
    }
  });
  proc.stderr.setEncoding("utf8").on("data", (chunk: string) => logs.push(`stderr: ${chunk}`));
  let exited = false;
  proc.once("exit", () => (exited = true));
  await until("controller to start serving", () => {
    if (exited) throw new Error(`controller exited during start:\n${logs.join("\n")}`);
    return xdsPort !== undefined;
  });
  return { proc, address: `127.0.0.1:${xdsPort}`, logs };
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  process.kill(proc.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, "SIGKILL");
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

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
  let controller: Controller | undefined;
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
    controller = await startController(configDir, caDir);
    // A self-generated root signs directly: ca-cert.pem is the trust anchor.
    rootPem = await readFile(join(caDir, "ca-cert.pem"), "utf8");
    issuer = createCaIssuer({
      address: controller.address,
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
      address: controller!.address,
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
