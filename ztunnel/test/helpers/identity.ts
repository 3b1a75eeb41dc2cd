// Fixtures for the identity tests: an in-process issuer over the test CA whose answers a test
// steers (hold, fail, switch CA, lie), a real mTLS handshake between two contexts, and polling.
import net from "node:net";
import { once } from "node:events";
import type tls from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { weftError, type WeftError } from "@weft/core";
import type { CertificateIssuer } from "../../src/identity/index.js";
import {
  connectMeshTls,
  createMeshTlsServer,
  verifyClientPeer,
  type MeshTlsContext,
} from "../../src/tls/index.js";
import type { TestCa } from "./pki.js";

export async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

export interface IssueCall {
  readonly identity: string;
  readonly ttlSeconds: number;
}

/** Signs with a test CA; a test can hold calls, make them fail, or change the CA per identity. */
export class FakeIssuer implements CertificateIssuer {
  readonly calls: IssueCall[] = [];
  /** While true, calls wait in `held` until `releaseAll()`. */
  hold = false;
  #held: (() => void)[] = [];
  /** Errors the next calls throw, in order (shared by all identities). */
  readonly failures: WeftError[] = [];
  /** When set, every call fails with this (until cleared). */
  failAlways: WeftError | undefined;
  /** Per-identity failure, checked after `failures` and `failAlways`. */
  failFor: (identity: string) => WeftError | undefined = () => undefined;
  /** The CA that signs for an identity; default the constructor's. */
  caFor: (identity: string) => TestCa;
  /** Rewrites the identity put in the leaf (a lying CA). */
  leafIdentity: (identity: string) => string = (identity) => identity;
  closed = false;

  constructor(ca: TestCa) {
    this.caFor = () => ca;
  }

  get held(): number {
    return this.#held.length;
  }

  releaseAll(): void {
    const held = this.#held;
    this.#held = [];
    for (const release of held) release();
  }

  callsFor(identity: string): number {
    return this.calls.filter((c) => c.identity === identity).length;
  }

  async issue(identity: string, csrPem: string, ttlSeconds: number): Promise<readonly string[]> {
    this.calls.push({ identity, ttlSeconds });
    if (this.hold) await new Promise<void>((resolve) => this.#held.push(resolve));
    const failure = this.failures.shift() ?? this.failAlways ?? this.failFor(identity);
    if (failure !== undefined) throw failure;
    return this.caFor(identity).signCsr(csrPem, this.leafIdentity(identity), ttlSeconds * 1000);
  }

  close(): void {
    this.closed = true;
  }
}

export const caUnavailable = (): WeftError =>
  weftError("WEFT_E_UNAVAILABLE", "the test CA is down", undefined, { fix: "wait" });

/**
 * A real mesh handshake on loopback: `server` serves, `client` connects expecting
 * `serverIdentity`. Resolves with the client identity the server verified; rejects when either
 * side refuses the other.
 */
export async function handshake(
  client: MeshTlsContext,
  server: MeshTlsContext,
  serverIdentity: string,
  trustDomain = "cluster.local",
): Promise<string> {
  const tlsServer = createMeshTlsServer(server.credentials);
  const verified: string[] = [];
  tlsServer.on("secureConnection", (socket: tls.TLSSocket) => {
    const peer = verifyClientPeer(socket, trustDomain);
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
    const peer = verified[0]!;
    if (peer.startsWith("refused: ")) throw new Error(peer);
    return peer;
  } finally {
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}
