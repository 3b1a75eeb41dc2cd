// The inbound side of HBONE (DESIGN §3): mTLS with the identity of the pod the connection landed
// on, HTTP/2, one CONNECT stream per tunnelled TCP connection. Each stream is validated, checked
// against the destination rules, authorized, connected upstream, answered 200 and spliced.
//
// Status codes follow istio/ztunnel's inbound: 405 for a method other than CONNECT, 400 for an
// unparseable or unacceptable :authority, 401 when authorization denies, 503 when the upstream
// cannot be reached. A broken connection (garbage, oversized headers, protocol errors) is closed
// with GOAWAY or simply dropped, and logged with the reason; other connections are unaffected.
import http2 from "node:http2";
import type net from "node:net";
import type tls from "node:tls";
import { createLogger, type Logger } from "@weft/core";
import type { Identity } from "@weft/state";
import { createMeshTlsServer, verifyClientPeer, type MeshTlsContext } from "../tls/index.js";
import { parseAuthority, parseForwardedFor, type SocketTarget } from "./headers.js";
import { startKeepalive } from "./keepalive.js";
import { spliceTunnel, type TunnelResult } from "./pipe.js";
import { HBONE_CONNECTION_WINDOW, HBONE_SESSION_OPTIONS } from "./settings.js";

/** Everything known about one inbound tunnel when it is checked and authorized. */
export interface InboundTunnelFacts {
  /** The verified client identity (ztunnel's source workload or a waypoint). */
  readonly peer: Identity;
  readonly peerUri: string;
  /** The TLS connection's remote end (a ztunnel or waypoint). */
  readonly peerAddress: string;
  readonly peerPort: number;
  /** Where the connection landed (the pod IP and 15008 in production). */
  readonly localAddress: string;
  readonly localPort: number;
  /** Parsed :authority. */
  readonly target: SocketTarget;
  /** Original client IP from the Forwarded header, when sent. */
  readonly originalSource?: string;
  readonly traceparent?: string;
  readonly baggage?: string;
}

export type Verdict = { readonly allow: true } | { readonly allow: false; readonly reason: string };

export type HboneRejectStatus = 400 | 401 | 405 | 503;

/** One tunnel's outcome, for access logs and metrics. */
export interface InboundTunnelEvent {
  readonly facts?: InboundTunnelFacts;
  readonly status: 200 | HboneRejectStatus;
  readonly reason?: string;
  /** Set when status is 200: bytes and how it ended. */
  readonly result?: TunnelResult;
}

export interface HboneServerOptions {
  readonly trustDomain: string;
  /**
   * The identity to present on a connection, chosen by where it landed (the pod). Return the same
   * object for the same certificate version: its tls.Server is built once and cached per object.
   */
  contextFor(socket: net.Socket): MeshTlsContext | Promise<MeshTlsContext>;
  /**
   * Whether this landing may serve `:authority` (DESIGN §3: the landing pod IP, or another target
   * only when the connection came from the pod's own waypoint). A deny becomes 400.
   */
  checkAuthority(facts: InboundTunnelFacts): Verdict;
  /** L4 authorization (state's authorizeInbound, wired by the caller). A deny becomes 401. */
  authorize(facts: InboundTunnelFacts): Verdict | Promise<Verdict>;
  /** Opens the connection to the application; must use allowHalfOpen. Rejection becomes 503. */
  connectUpstream(target: SocketTarget, facts: InboundTunnelFacts): Promise<net.Socket>;
  /** Called once per tunnel when it is refused or has closed. */
  onTunnel?(event: InboundTunnelEvent): void;
  /** Called once per tunnel when it is opened (200 sent), before bytes flow. */
  onTunnelOpen?(facts: InboundTunnelFacts): void;
  readonly logger?: Logger;
  readonly handshakeTimeoutMs?: number;
}

export interface HboneServerStats {
  readonly connections: number;
  readonly activeStreams: number;
  readonly handshakeFailures: number;
  readonly sessionErrors: number;
}

export class HboneServer {
  readonly #opts: HboneServerOptions;
  readonly #log: Logger;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #pending = new Set<net.Socket>();
  readonly #servers = new Set<net.Server>();
  readonly #tlsServers = new WeakMap<MeshTlsContext, tls.Server>();
  #activeStreams = 0;
  #handshakeFailures = 0;
  #sessionErrors = 0;
  #closing = false;

  constructor(opts: HboneServerOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? createLogger({ name: "hbone-server" });
  }

  /** Serves connections accepted by `server` (which must be created with allowHalfOpen: true). */
  attach(server: net.Server): void {
    this.#servers.add(server);
    server.on("connection", (socket: net.Socket) => this.handleConnection(socket));
  }

  get stats(): HboneServerStats {
    return {
      connections: this.#sessions.size,
      activeStreams: this.#activeStreams,
      handshakeFailures: this.#handshakeFailures,
      sessionErrors: this.#sessionErrors,
    };
  }

  /** Takes over an accepted TCP connection: TLS, HTTP/2, streams. Never throws. */
  handleConnection(raw: net.Socket): void {
    if (this.#closing) {
      raw.destroy();
      return;
    }
    this.#pending.add(raw);
    raw.once("close", () => this.#pending.delete(raw));
    raw.on("error", () => {
      /* the TLS layer reports handshake errors; a reset before that needs no log */
    });
    const refused = (err: unknown): void => {
      this.#pending.delete(raw);
      this.#handshakeFailures++;
      raw.destroy();
      this.#log.warn(
        { err, peer: `${raw.remoteAddress}:${raw.remotePort}`, reason: "no_identity" },
        "HBONE connection refused",
      );
    };
    try {
      const context = this.#opts.contextFor(raw);
      if (context instanceof Promise) context.then((c) => this.#handshake(raw, c), refused);
      else this.#handshake(raw, context);
    } catch (err) {
      refused(err);
    }
  }

  #handshake(raw: net.Socket, context: MeshTlsContext): void {
    if (raw.destroyed) return;
    let server = this.#tlsServers.get(context);
    if (server === undefined) {
      server = createMeshTlsServer(context.credentials, this.#opts.handshakeTimeoutMs);
      server.on("secureConnection", (socket: tls.TLSSocket) => this.#onSecure(socket));
      server.on("tlsClientError", (err, socket) => {
        this.#handshakeFailures++;
        this.#log.warn(
          { err, peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: "handshake" },
          "HBONE TLS handshake failed",
        );
      });
      this.#tlsServers.set(context, server);
    }
    this.#pending.delete(raw);
    server.emit("connection", raw);
  }

  #onSecure(socket: tls.TLSSocket): void {
    const where = {
      peer: "",
      peerAddress: socket.remoteAddress ?? "",
      peerPort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? "",
      localPort: socket.localPort ?? 0,
    };
    const peer = socket.alpnProtocol === "h2" ? verifyClientPeer(socket, this.#opts.trustDomain) : undefined;
    if (peer === undefined || !peer.ok || this.#closing) {
      this.#handshakeFailures++;
      socket.destroy();
      this.#log.warn(
        {
          ...where,
          reason:
            peer === undefined
              ? `client did not negotiate ALPN h2 (got ${String(socket.alpnProtocol)})`
              : peer.ok
                ? "draining"
                : peer.reason,
        },
        "HBONE connection refused",
      );
      return;
    }
    where.peer = peer.uri;
    const session = http2.performServerHandshake(socket, HBONE_SESSION_OPTIONS);
    this.#sessions.add(session);
    try {
      session.setLocalWindowSize(HBONE_CONNECTION_WINDOW);
    } catch {
      // Only fails when the session is already gone; 'close' cleans up.
    }
    startKeepalive(session);
    session.on("stream", (stream, headers) => this.#onStream(stream, headers, peer.identity, where));
    session.on("error", (err) => {
      this.#sessionErrors++;
      this.#log.warn({ err, ...where, reason: "session_error" }, "HBONE connection closed on error");
    });
    session.on("frameError", (type, code, id) => {
      this.#log.warn(
        { ...where, frameType: type, code, streamId: id, reason: "frame_error" },
        "HBONE frame error",
      );
    });
    session.on("goaway", (code) => {
      if (code !== http2.constants.NGHTTP2_NO_ERROR) {
        this.#log.warn({ ...where, code, reason: "goaway" }, "HBONE peer sent GOAWAY with an error");
      }
    });
    session.once("close", () => this.#sessions.delete(session));
    // A TLS socket that errors underneath (garbage after the handshake) must not crash us.
    socket.on("error", (err) => {
      this.#log.warn({ err, ...where, reason: "socket_error" }, "HBONE transport error");
    });
  }

  #onStream(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    peer: Identity,
    where: { peer: string; peerAddress: string; peerPort: number; localAddress: string; localPort: number },
  ): void {
    stream.on("error", () => {
      /* reported through 'close' and the tunnel result */
    });
    if (headers[":method"] !== "CONNECT") {
      this.#refuse(stream, 405, `method ${String(headers[":method"])} is not CONNECT`, undefined);
      return;
    }
    const target = parseAuthority(headers[":authority"]);
    if (target === undefined) {
      this.#refuse(stream, 400, `unparseable :authority ${JSON.stringify(headers[":authority"])}`, undefined);
      return;
    }
    const originalSource = parseForwardedFor(headers.forwarded);
    const traceparent = headers.traceparent;
    const baggage = headers.baggage;
    const facts: InboundTunnelFacts = {
      peer,
      peerUri: where.peer,
      peerAddress: where.peerAddress,
      peerPort: where.peerPort,
      localAddress: where.localAddress,
      localPort: where.localPort,
      target,
      ...(originalSource !== undefined ? { originalSource } : {}),
      ...(typeof traceparent === "string" ? { traceparent } : {}),
      ...(typeof baggage === "string" ? { baggage } : {}),
    };
    const destination = this.#opts.checkAuthority(facts);
    if (!destination.allow) {
      this.#refuse(stream, 400, destination.reason, facts);
      return;
    }
    this.#activeStreams++;
    this.#serve(stream, facts).then(
      () => this.#activeStreams--,
      (err: unknown) => {
        this.#activeStreams--;
        this.#log.error({ err, ...where }, "HBONE stream handling failed");
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      },
    );
  }

  async #serve(stream: http2.ServerHttp2Stream, facts: InboundTunnelFacts): Promise<void> {
    const verdict = await this.#opts.authorize(facts);
    if (!verdict.allow) {
      this.#refuse(stream, 401, verdict.reason, facts);
      return;
    }
    let upstream: net.Socket;
    try {
      upstream = await this.#opts.connectUpstream(facts.target, facts);
    } catch (err) {
      this.#refuse(
        stream,
        503,
        `upstream ${facts.target.ip}:${facts.target.port}: ${(err as Error).message}`,
        facts,
      );
      return;
    }
    if (stream.destroyed || stream.closed) {
      // The client gave up while we were connecting.
      upstream.resetAndDestroy();
      this.#opts.onTunnel?.({
        facts,
        status: 503,
        reason: "client reset the stream before upstream connected",
      });
      return;
    }
    stream.respond({ ":status": 200 });
    this.#opts.onTunnelOpen?.(facts);
    const result = await spliceTunnel(stream, upstream);
    this.#opts.onTunnel?.({ facts, status: 200, result });
  }

  #refuse(
    stream: http2.ServerHttp2Stream,
    status: HboneRejectStatus,
    reason: string,
    facts: InboundTunnelFacts | undefined,
  ): void {
    this.#log.info({ status, reason, target: facts?.target, peer: facts?.peerUri }, "HBONE stream refused");
    if (!stream.destroyed && !stream.closed) {
      try {
        stream.respond({ ":status": status }, { endStream: true });
      } catch {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      }
    }
    this.#opts.onTunnel?.({ ...(facts !== undefined ? { facts } : {}), status, reason });
  }

  /**
   * Stops taking connections: GOAWAY on every session so clients open no new streams; existing
   * streams run on. `force` destroys everything at once.
   */
  close(force = false): void {
    this.#closing = true;
    for (const s of this.#servers) s.close();
    for (const raw of this.#pending) raw.destroy();
    for (const session of this.#sessions) {
      if (force) session.destroy();
      else session.close();
    }
  }
}

export function createHboneServer(opts: HboneServerOptions): HboneServer {
  return new HboneServer(opts);
}
