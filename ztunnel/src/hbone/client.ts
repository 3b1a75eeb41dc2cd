// The outbound side of HBONE: one mTLS HTTP/2 session to a peer's 15008, and CONNECT streams on it.
import http2 from "node:http2";
import { weftError, type WeftErrorCode } from "@weft/core";
import { connectMeshTls, type MeshConnectOptions } from "../tls/index.js";
import { startKeepalive } from "./keepalive.js";
import { HBONE_CONNECTION_WINDOW, HBONE_SESSION_OPTIONS } from "./settings.js";

/** Opens an HBONE session: TLS handshake with identity check, then the HTTP/2 preface. */
export async function connectHboneSession(opts: MeshConnectOptions): Promise<http2.ClientHttp2Session> {
  const socket = await connectMeshTls(opts);
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const session = http2.connect(`https://${host}:${opts.port}`, {
    ...HBONE_SESSION_OPTIONS,
    createConnection: () => socket,
  });
  session.once("connect", () => {
    try {
      session.setLocalWindowSize(HBONE_CONNECTION_WINDOW);
    } catch {
      // The session closed before it started; the pool sees 'close'.
    }
  });
  // Errors surface through streams and 'close'; an unhandled 'error' must not kill the process.
  session.on("error", () => {});
  startKeepalive(session);
  return session;
}

export interface HboneConnectOptions {
  /** `ip:port` (or `[ipv6]:port`) to tunnel to. */
  readonly authority: string;
  /** Extra request headers: forwarded, baggage, traceparent. */
  readonly headers?: Readonly<Record<string, string>>;
}

const ERROR_BY_STATUS: Readonly<Record<number, WeftErrorCode>> = {
  400: "WEFT_E_PROTOCOL",
  401: "WEFT_E_DENIED",
  403: "WEFT_E_DENIED",
  405: "WEFT_E_PROTOCOL",
  503: "WEFT_E_UNAVAILABLE",
};

/**
 * Sends CONNECT on `session` and resolves with the stream once the peer answers 200. The stream is
 * then a Duplex carrying the tunnelled bytes; pipe it with spliceTunnel. Rejects with a WeftError
 * whose `details.status` is the peer's status (401 denied, 503 upstream down, ...) or, when the
 * stream fails before a response, the transport error.
 */
export function hboneConnect(
  session: http2.ClientHttp2Session,
  opts: HboneConnectOptions,
): Promise<http2.ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(
        { ":method": "CONNECT", ":authority": opts.authority, ...opts.headers },
        { endStream: false },
      );
    } catch (err) {
      reject(
        weftError(
          "WEFT_E_UNAVAILABLE",
          `HBONE session cannot open a stream: ${(err as Error).message}`,
          undefined,
          {
            cause: err,
          },
        ),
      );
      return;
    }
    let settled = false;
    const onEarlyError = (err: Error): void => {
      if (settled) return;
      settled = true;
      reject(
        weftError("WEFT_E_UNAVAILABLE", `HBONE CONNECT ${opts.authority} failed: ${err.message}`, undefined, {
          cause: err,
        }),
      );
    };
    stream.on("error", onEarlyError);
    stream.once("close", () => {
      if (settled) return;
      settled = true;
      reject(
        weftError(
          "WEFT_E_UNAVAILABLE",
          `HBONE CONNECT ${opts.authority}: stream closed before a response (code ${stream.rstCode})`,
        ),
      );
    });
    stream.once("response", (headers) => {
      if (settled) return;
      settled = true;
      const status = Number(headers[":status"]);
      if (status === 200) {
        stream.off("error", onEarlyError);
        resolve(stream);
        return;
      }
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(
        weftError(
          ERROR_BY_STATUS[status] ?? "WEFT_E_PROTOCOL",
          `HBONE CONNECT ${opts.authority} answered ${status}`,
          { status },
        ),
      );
    });
  });
}
