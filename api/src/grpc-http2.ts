// A lean gRPC client for long-lived bidirectional streams, written on node:http2 directly.
//
// Why not grpc-js here: every ztunnel and waypoint holds one ADS stream and receives a push for
// every change in the mesh. Measured on this project's machines (docs/adr/0008), grpc-js's client
// spends about 50 µs per received message in its five call layers (resolving, retrying, load
// balancing, subchannel call, interceptors), with a promise chain per message and a pause/resume
// of the HTTP/2 stream around each one: twice what HTTP/2, TLS and the kernel cost for the same
// message. That made the simulated fleet of the push-latency benchmark, and each real node agent,
// spend most of a push in the library. The wire protocol of one stream is small (PROTOCOL-HTTP2.md
// of grpc/grpc): a POST with `content-type: application/grpc` and `te: trailers`, messages framed
// as 1 flag byte + 4 length bytes, and the status in trailers (or in the headers of a
// trailers-only response). Unary calls (the CA's CreateCertificate) use the same transport: per
// call cost is noise there, but a ztunnel that never loads grpc-js is ~7.6 MiB smaller (RSS of
// grpc-js with one channel, measured over node:http2 + node:tls alone), which counts against the
// per-node memory budget. Servers (the controller) stay on grpc-js.
//
// Scope: no compression (we never send grpc-accept-encoding, so a conforming server never
// compresses; a compressed message ends the call with INTERNAL), no name resolution beyond
// host:port, no load balancing, no retries (the xDS client reconnects with its own backoff).
import * as http2 from "node:http2";
import type { SecureContext } from "node:tls";

/**
 * gRPC's status codes (doc/statuscodes.md of grpc/grpc; fixed by the protocol, never renumbered).
 * Our own table instead of grpc-js's `status` enum, so that this client does not load grpc-js;
 * a test checks it against grpc-js's.
 */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const STATUS_NAMES: readonly string[] = Object.keys(GrpcStatus);

/** The canonical name of a gRPC status code (`UNAVAILABLE`), or the number when unknown. */
export function grpcStatusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

/** How a call ended: a gRPC status code and its message. */
export interface GrpcCallStatus {
  readonly code: number;
  readonly details: string;
}

const FRAME_HEADER = 5;

/** A message framed for a gRPC stream: flag 0 (uncompressed), big-endian length, the bytes. */
export function frameGrpcMessage(bytes: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER + bytes.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.byteLength, 1);
  frame.set(bytes, FRAME_HEADER);
  return frame;
}

/**
 * Splits a gRPC stream's DATA into messages. A chunk that holds exactly whole messages (the common
 * case) is cut into views without copying; only a message split across chunks is joined.
 */
export class GrpcDeframer {
  #parts: Buffer[] = [];
  #buffered = 0;
  /** Frame size (header included) of the message being buffered; -1 until its header is in. */
  #need = -1;

  constructor(readonly maxMessageBytes: number) {}

  /** Feeds a chunk; calls `onMessage` for every complete message. Throws GrpcCallError on a bad frame. */
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    let data = chunk;
    if (this.#buffered > 0) {
      // A message split across chunks: collect, and join once, when all of it is here (joining on
      // every chunk would copy a 4 MiB initial-sync response hundreds of times).
      this.#parts.push(chunk);
      this.#buffered += chunk.length;
      if (this.#need < 0 && this.#buffered >= FRAME_HEADER) {
        const first = this.#parts[0]!;
        const head = first.length >= FRAME_HEADER ? first : Buffer.concat(this.#parts, this.#buffered);
        this.#need = FRAME_HEADER + this.#check(head);
      }
      if (this.#need < 0 || this.#buffered < this.#need) return;
      data = Buffer.concat(this.#parts, this.#buffered);
      this.#parts = [];
      this.#buffered = 0;
      this.#need = -1;
    }
    let offset = 0;
    while (data.length - offset >= FRAME_HEADER) {
      const end = offset + FRAME_HEADER + this.#check(data, offset);
      if (end > data.length) break;
      onMessage(data.subarray(offset + FRAME_HEADER, end));
      offset = end;
    }
    if (offset < data.length) {
      const rest = data.subarray(offset);
      this.#parts = [rest];
      this.#buffered = rest.length;
      this.#need = rest.length >= FRAME_HEADER ? FRAME_HEADER + this.#check(rest) : -1;
    }
  }

  #check(data: Buffer, offset = 0): number {
    const flag = data[offset]!;
    if (flag !== 0) {
      throw new GrpcCallError(
        GrpcStatus.INTERNAL,
        flag === 1
          ? "the server sent a compressed message, but this client never offered compression"
          : `invalid gRPC frame flag ${flag}`,
      );
    }
    const length = data.readUInt32BE(offset + 1);
    if (length > this.maxMessageBytes) {
      throw new GrpcCallError(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `received a ${length}-byte message, larger than the ${this.maxMessageBytes}-byte limit`,
      );
    }
    return length;
  }
}

export class GrpcCallError extends Error {
  override readonly name = "GrpcCallError";
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${grpcStatusName(code)}: ${details}`);
  }
}

/** gRPC's mapping of an HTTP status that is not 200 to a call status (doc/http-grpc-status-mapping.md). */
export function grpcCodeForHttpStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** The status a stream reset by the peer means (PROTOCOL-HTTP2.md, "Errors"). */
function grpcCodeForRstStream(code: number): number {
  switch (code) {
    case http2.constants.NGHTTP2_REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case http2.constants.NGHTTP2_CANCEL:
      return GrpcStatus.CANCELLED;
    case http2.constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case http2.constants.NGHTTP2_INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/** `grpc-message` is percent-encoded; a malformed encoding is shown as it came. */
function decodeGrpcMessage(raw: unknown): string {
  if (typeof raw !== "string") return "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Status from headers or trailers that carry `grpc-status`; undefined when they do not. */
function statusFromHeaders(headers: http2.IncomingHttpHeaders): GrpcCallStatus | undefined {
  const raw = headers["grpc-status"];
  if (raw === undefined) return undefined;
  const code = Number(raw);
  if (!Number.isInteger(code) || code < 0) {
    return { code: GrpcStatus.UNKNOWN, details: `the server sent an invalid grpc-status "${String(raw)}"` };
  }
  return { code, details: decodeGrpcMessage(headers["grpc-message"]) };
}

export type GrpcHttp2Credentials =
  | { readonly kind: "insecure" }
  | {
      readonly kind: "tls";
      readonly secureContext: SecureContext;
      /** Name the server certificate must carry; also sent as SNI and `:authority`. */
      readonly serverName: string;
    };

export interface GrpcHttp2ClientOptions {
  /** `host:port`, `[v6]:port` included. */
  readonly address: string;
  readonly credentials: GrpcHttp2Credentials;
  /** Largest message accepted; a larger one ends the call with RESOURCE_EXHAUSTED. */
  readonly maxReceiveMessageBytes: number;
  /** Interval of HTTP/2 PINGs on an open connection, and how long an answer may take. */
  readonly keepalive?: { readonly intervalMs: number; readonly timeoutMs: number };
  /** Sent as `user-agent`. */
  readonly userAgent?: string;
}

export interface GrpcStreamHandlers {
  /** One complete message, as bytes: a view into the received data, not a copy. */
  onMessage(message: Buffer): void;
  /** Called exactly once, when the call is over for whatever reason. */
  onEnd(status: GrpcCallStatus): void;
}

/** One open bidirectional call. */
export interface GrpcBidiStream {
  /** Sends one message (its encoding); ignored once the call has ended. */
  write(message: Uint8Array): void;
  /** Half-closes: this side sends no more messages; the server's answer and status still come. */
  end(): void;
  /** Ends the call from this side with CANCELLED. */
  cancel(): void;
}

export interface GrpcCallOptions {
  /** Sent as `grpc-timeout`; the call also ends here with DEADLINE_EXCEEDED when it passes. */
  readonly timeoutMs?: number;
}

/**
 * One HTTP/2 connection to a gRPC server, made on the first call and again after it fails, like
 * a grpc-js channel with one subchannel. Each client object has a connection of its own.
 */
export class GrpcHttp2Client {
  readonly #opts: GrpcHttp2ClientOptions;
  readonly #authority: string;
  #session: http2.ClientHttp2Session | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: GrpcHttp2ClientOptions) {
    this.#opts = opts;
    this.#authority = opts.credentials.kind === "tls" ? opts.credentials.serverName : opts.address;
  }

  /**
   * One unary call: sends `request` (its encoding), resolves with the answer's encoding, rejects
   * with a GrpcCallError carrying the call's status when it is not OK or brings no message.
   */
  unary(
    path: string,
    metadata: Readonly<Record<string, string>>,
    request: Uint8Array,
    options: GrpcCallOptions = {},
  ): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let answer: Buffer | undefined;
      let extra = false;
      const call = this.openBidi(
        path,
        metadata,
        {
          onMessage(message) {
            if (answer === undefined) answer = Buffer.from(message);
            else extra = true;
          },
          onEnd(status) {
            if (status.code !== GrpcStatus.OK) reject(new GrpcCallError(status.code, status.details));
            else if (answer === undefined || extra)
              reject(
                new GrpcCallError(
                  GrpcStatus.INTERNAL,
                  answer === undefined
                    ? "the server ended a unary call with OK but no message"
                    : "the server sent more than one message on a unary call",
                ),
              );
            else resolve(answer);
          },
        },
        options,
      );
      call.write(request);
      call.end();
    });
  }

  /** Opens a bidirectional call on `path` (`/package.Service/Method`) with these metadata headers. */
  openBidi(
    path: string,
    metadata: Readonly<Record<string, string>>,
    handlers: GrpcStreamHandlers,
    options: GrpcCallOptions = {},
  ): GrpcBidiStream {
    let ended = false;
    let deadline: NodeJS.Timeout | undefined;
    const end = (status: GrpcCallStatus): void => {
      if (ended) return;
      ended = true;
      if (deadline !== undefined) clearTimeout(deadline);
      handlers.onEnd(status);
    };
    const inert: GrpcBidiStream = { write: () => {}, end: () => {}, cancel: () => {} };
    if (this.#closed) {
      queueMicrotask(() => end({ code: GrpcStatus.CANCELLED, details: "the client was closed" }));
      return inert;
    }
    const timeoutMs = options.timeoutMs;
    const session = this.#connection();
    const tls = this.#opts.credentials.kind === "tls";
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(
        {
          ...metadata,
          [http2.constants.HTTP2_HEADER_METHOD]: "POST",
          [http2.constants.HTTP2_HEADER_PATH]: path,
          [http2.constants.HTTP2_HEADER_AUTHORITY]: this.#authority,
          [http2.constants.HTTP2_HEADER_SCHEME]: tls ? "https" : "http",
          "content-type": "application/grpc",
          te: "trailers",
          "user-agent": this.#opts.userAgent ?? "weft-grpc-http2",
          // PROTOCOL-HTTP2.md: at most 8 digits, unit m = milliseconds.
          ...(timeoutMs !== undefined
            ? { "grpc-timeout": `${Math.min(Math.ceil(timeoutMs), 99_999_999)}m` }
            : {}),
        },
        { endStream: false },
      );
    } catch (err) {
      queueMicrotask(() => end({ code: GrpcStatus.UNAVAILABLE, details: (err as Error).message }));
      return inert;
    }

    const deframer = new GrpcDeframer(this.#opts.maxReceiveMessageBytes);
    const onMessage = (message: Buffer): void => handlers.onMessage(message);
    let status: GrpcCallStatus | undefined;
    let failure: GrpcCallStatus | undefined;
    let cancelled = false;
    const abort = (s: GrpcCallStatus): void => {
      failure ??= s;
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    };

    stream.on("response", (headers) => {
      const httpStatus = Number(headers[http2.constants.HTTP2_HEADER_STATUS]);
      const trailersOnly = statusFromHeaders(headers);
      if (httpStatus !== 200) {
        abort(
          trailersOnly ?? {
            code: grpcCodeForHttpStatus(httpStatus),
            details: `the server answered HTTP ${httpStatus} instead of a gRPC response`,
          },
        );
        return;
      }
      const type = headers["content-type"];
      if (typeof type !== "string" || !type.startsWith("application/grpc")) {
        abort({
          code: GrpcStatus.UNKNOWN,
          details: `the server answered content-type "${String(type)}", not application/grpc`,
        });
        return;
      }
      if (trailersOnly !== undefined) status = trailersOnly;
    });
    stream.on("data", (chunk: Buffer) => {
      if (failure !== undefined) return;
      try {
        deframer.push(chunk, onMessage);
      } catch (err) {
        abort(
          err instanceof GrpcCallError
            ? { code: err.code, details: err.details }
            : // The handler threw: end this call (the caller reconnects) rather than the process.
              { code: GrpcStatus.INTERNAL, details: `handling a message failed: ${(err as Error).message}` },
        );
      }
    });
    stream.on("trailers", (trailers: http2.IncomingHttpHeaders) => {
      status = statusFromHeaders(trailers) ?? {
        code: GrpcStatus.UNKNOWN,
        details: "the server ended the call without a grpc-status",
      };
    });
    // The server's END_STREAM ends the call (PROTOCOL-HTTP2.md): close our half too, or the stream
    // would stay half-open and never report 'close'.
    let remoteEnded = false;
    stream.on("end", () => {
      remoteEnded = true;
      if (!stream.destroyed && stream.writable) stream.end();
    });
    stream.on("error", (err: NodeJS.ErrnoException) => {
      const rst = stream.rstCode;
      failure ??=
        err.code === "ERR_HTTP2_STREAM_ERROR" && rst !== undefined && rst !== http2.constants.NGHTTP2_NO_ERROR
          ? { code: grpcCodeForRstStream(rst), details: `the server reset the stream: ${err.message}` }
          : { code: GrpcStatus.UNAVAILABLE, details: err.message };
    });
    stream.on("close", () => {
      if (failure !== undefined) end(failure);
      else if (status !== undefined) end(status);
      else if (cancelled) end({ code: GrpcStatus.CANCELLED, details: "cancelled by this client" });
      else if (remoteEnded) {
        end({ code: GrpcStatus.UNKNOWN, details: "the server ended the call without a grpc-status" });
      } else if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
        end({
          code: grpcCodeForRstStream(stream.rstCode),
          details: `the server reset the stream (HTTP/2 error ${stream.rstCode})`,
        });
      } else {
        end({ code: GrpcStatus.UNAVAILABLE, details: "the connection closed before the call ended" });
      }
    });
    // Reading is needed for 'end' and 'close' to fire even when nobody else consumes the stream.
    stream.resume();
    if (timeoutMs !== undefined) {
      deadline = setTimeout(
        () => abort({ code: GrpcStatus.DEADLINE_EXCEEDED, details: `no answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
    }

    return {
      write(message: Uint8Array): void {
        if (ended || stream.destroyed || !stream.writable) return;
        stream.write(frameGrpcMessage(message));
      },
      end(): void {
        if (ended || stream.destroyed || !stream.writable) return;
        stream.end();
      },
      cancel(): void {
        if (ended || stream.destroyed) return;
        cancelled = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  /** Closes the connection; open calls end with the connection. */
  close(): void {
    this.#closed = true;
    this.#dropSession();
  }

  #connection(): http2.ClientHttp2Session {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const creds = this.#opts.credentials;
    const session =
      creds.kind === "tls"
        ? http2.connect(`https://${this.#opts.address}`, {
            secureContext: creds.secureContext,
            servername: creds.serverName,
            ALPNProtocols: ["h2"],
            settings: SESSION_SETTINGS,
          })
        : http2.connect(`http://${this.#opts.address}`, { settings: SESSION_SETTINGS });
    // Errors reach the open streams as 'error' + 'close'; the listener only keeps them from
    // becoming uncaught exceptions.
    session.on("error", () => {});
    session.on("connect", () => session.setLocalWindowSize(CONNECTION_WINDOW));
    session.on("close", () => {
      if (this.#session === session) this.#dropSession();
    });
    // A connection that idles between calls must not keep the process alive.
    session.unref();
    this.#session = session;
    this.#startKeepalive(session);
    return session;
  }

  #startKeepalive(session: http2.ClientHttp2Session): void {
    const ka = this.#opts.keepalive;
    if (ka === undefined) return;
    this.#keepalive = setInterval(() => {
      if (session.destroyed) return;
      const timer = setTimeout(() => {
        session.destroy(new Error(`the server did not answer a keepalive PING within ${ka.timeoutMs} ms`));
      }, ka.timeoutMs);
      timer.unref();
      try {
        session.ping(() => clearTimeout(timer));
      } catch {
        clearTimeout(timer);
      }
    }, ka.intervalMs);
    this.#keepalive.unref();
  }

  #dropSession(): void {
    if (this.#keepalive !== undefined) clearInterval(this.#keepalive);
    this.#keepalive = undefined;
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined && !session.destroyed) session.destroy();
  }
}

/** Stream and connection windows as DESIGN §5 sizes them for HBONE; an initial sync is MiBs. */
const SESSION_SETTINGS: http2.Settings = { initialWindowSize: 4 << 20, enablePush: false };
const CONNECTION_WINDOW = 16 << 20;
