// Mesh mTLS (DESIGN §5, §12): TLS 1.3 only, ALPN h2, no SNI, no session resumption, client
// certificates required, the trust bundle as the only CAs. One SecureContext per identity, built
// once and reused for every connection: passing PEM per connection re-parses keys each time and
// capped new connections at a few hundred per second (DESIGN §12).
import { constants as cryptoConstants } from "node:crypto";
import type net from "node:net";
import tls from "node:tls";
import { weftError } from "@weft/core";
import { spiffeIdentityOf, type PeerIdentityResult } from "./san.js";

export const MESH_ALPN: readonly string[] = ["h2"];
/** Handshakes that take longer are abandoned (a stuck peer must not hold a pool slot forever). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface MeshCredentials {
  /** PKCS#8 (or SEC1) private key, PEM. */
  readonly keyPem: string;
  /** Leaf first, then intermediates; PEM, concatenated or as a list. */
  readonly certChainPem: string | readonly string[];
  /** Roots this side trusts for its peers. */
  readonly trustBundlePem: string | readonly string[];
}

/** What every mesh TLS context has: the identity's key and chain, the bundle, TLS 1.3 only, no tickets. */
function meshContextOptions(creds: MeshCredentials): tls.SecureContextOptions {
  const join = (v: string | readonly string[]): string => (typeof v === "string" ? v : v.join("\n"));
  return {
    key: creds.keyPem,
    cert: join(creds.certChainPem),
    ca: join(creds.trustBundlePem),
    minVersion: "TLSv1.3",
    maxVersion: "TLSv1.3",
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
  };
}

/**
 * Builds the SecureContext for one identity. Session resumption is off: the client never offers a
 * session (weft never passes `session`), and SSL_OP_NO_TICKET makes TLS 1.3 tickets stateful, i.e.
 * plain ids into a server-side cache that Node keeps external (no `resumeSession` listener here),
 * so no ticket can ever be redeemed. OpenSSL still sends its two small NewSessionTicket records;
 * Node offers no way to set num_tickets to 0.
 */
export function createMeshSecureContext(creds: MeshCredentials): tls.SecureContext {
  try {
    return tls.createSecureContext(meshContextOptions(creds));
  } catch (err) {
    throw weftError(
      "WEFT_E_TLS",
      `cannot build a TLS context from the certificate and key (${(err as Error).message})`,
      undefined,
      {
        cause: err,
        fix: "check that the key matches the leaf certificate and that all PEM blocks are intact",
      },
    );
  }
}

/**
 * The `checkServerIdentity` a client passes to tls.connect: the server must present one SPIFFE URI
 * SAN equal to one of `expected` (from buildRequest's expectedIdentities). Chain and dates are
 * checked by OpenSSL before this runs.
 */
export function spiffeServerCheck(
  expected: readonly string[],
): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const peer = spiffeIdentityOf(cert.subjectaltname);
    if (!peer.ok) return weftError("WEFT_E_TLS", `server certificate refused: ${peer.reason}`);
    if (!expected.includes(peer.uri)) {
      return weftError(
        "WEFT_E_TLS",
        `server identity ${peer.uri} is not one of the expected ${expected.join(", ") || "(none)"}`,
        { peer: peer.uri, expected },
        { fix: "the destination is not the workload its address claims, or the xDS state is stale" },
      );
    }
    return undefined;
  };
}

/** Server-side check of an accepted TLS socket: chain verified, one SPIFFE SAN in `trustDomain`. */
export function verifyClientPeer(socket: tls.TLSSocket, trustDomain: string): PeerIdentityResult {
  if (!socket.authorized) {
    const why = socket.authorizationError;
    return {
      ok: false,
      reason: `client certificate not verified (${why === undefined ? "none presented" : String(why)})`,
    };
  }
  const peer = spiffeIdentityOf(socket.getPeerX509Certificate()?.subjectAltName);
  if (!peer.ok) return peer;
  if (peer.identity.trustDomain !== trustDomain) {
    return { ok: false, reason: `client identity ${peer.uri} is outside trust domain ${trustDomain}` };
  }
  return peer;
}

/**
 * One identity's TLS material, built once per certificate version and shared by every connection:
 * the client SecureContext, and the credentials an HBONE server builds its tls.Server from (once,
 * cached per MeshTlsContext). A rotation produces a new object; holders swap the reference.
 */
export interface MeshTlsContext {
  readonly credentials: MeshCredentials;
  readonly clientContext: tls.SecureContext;
}

export function createMeshTlsContext(credentials: MeshCredentials): MeshTlsContext {
  return { credentials, clientContext: createMeshSecureContext(credentials) };
}

/**
 * The server side: a tls.Server that never listens; connections accepted elsewhere (a pod netns
 * listener) are handed to it with `server.emit("connection", socket)`. Why not a bare
 * `new tls.TLSSocket({ isServer: true })`: Node computes `authorized` for server sockets only
 * inside tls.Server, and tls.Server ignores a prebuilt `secureContext` for its own certificate,
 * so it gets the PEM here, once per certificate version. rejectUnauthorized is off on purpose:
 * Node would then drop failed peers silently; 'secureConnection' handlers call verifyClientPeer,
 * which refuses unverified chains and logs why.
 */
export function createMeshTlsServer(
  credentials: MeshCredentials,
  handshakeTimeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS,
): tls.Server {
  try {
    return tls.createServer({
      ...meshContextOptions(credentials),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: [...MESH_ALPN],
      handshakeTimeout: handshakeTimeoutMs,
    });
  } catch (err) {
    throw weftError(
      "WEFT_E_TLS",
      `cannot build the HBONE TLS server (${(err as Error).message})`,
      undefined,
      {
        cause: err,
        fix: "check that the key matches the leaf certificate and that all PEM blocks are intact",
      },
    );
  }
}

export interface MeshConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly secureContext: tls.SecureContext;
  /** SPIFFE URIs the server may present (any one). */
  readonly expectedIdentities: readonly string[];
  /** Source address to bind, e.g. the pod IP when spoofing is configured. */
  readonly localAddress?: string;
  /** An already connected (or connecting) transport, e.g. a socket created inside a pod netns. */
  readonly transport?: net.Socket;
  readonly timeoutMs?: number;
}

/** Client side of the mesh handshake. Resolves once the server's identity is verified. */
export function connectMeshTls(opts: MeshConnectOptions): Promise<tls.TLSSocket> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      ...(opts.transport !== undefined ? { socket: opts.transport } : { host: opts.host, port: opts.port }),
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
      secureContext: opts.secureContext,
      ALPNProtocols: [...MESH_ALPN],
      // Empty: no SNI extension is sent (mesh peers are addressed by IP and verified by SAN).
      servername: "",
      rejectUnauthorized: true,
      checkServerIdentity: spiffeServerCheck(opts.expectedIdentities),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        weftError("WEFT_E_TIMEOUT", `TLS handshake with ${opts.host}:${opts.port} took over ${timeoutMs} ms`),
      );
    }, timeoutMs);
    socket.once("error", (err: Error & { code?: string }) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        err.code?.startsWith("WEFT_E_") === true
          ? err
          : weftError("WEFT_E_TLS", `TLS to ${opts.host}:${opts.port} failed: ${err.message}`, undefined, {
              cause: err,
            }),
      );
    });
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      if (socket.alpnProtocol !== "h2") {
        socket.destroy();
        reject(weftError("WEFT_E_PROTOCOL", `${opts.host}:${opts.port} did not negotiate ALPN h2`));
        return;
      }
      socket.removeAllListeners("error");
      resolve(socket);
    });
  });
}
