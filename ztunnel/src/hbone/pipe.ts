// Splices an HBONE stream and a TCP socket, both directions, with TCP semantics preserved:
// half-close travels as END_STREAM <-> FIN, an abortive close as RST_STREAM(CONNECT_ERROR) <->
// TCP RST (RFC 9113 §8.5), and backpressure as flow control (pipe() pauses the faster side).
// Bytes are counted by the socket's native counters once at close: nothing per chunk in JS.
import http2 from "node:http2";
import type net from "node:net";

const { NGHTTP2_NO_ERROR, NGHTTP2_CONNECT_ERROR, NGHTTP2_CANCEL } = http2.constants;

/**
 * Aborts a stream with RST_STREAM(`code`) and no END_STREAM before it. Node's stream.close(code)
 * first ends the writable side, and Node shuts a stream's writable side down (an empty DATA frame
 * with END_STREAM) from _final or right after the last write, while the RST may wait for a write
 * in flight: the peer then sees a clean FIN before the reset, and a truncated transfer would pass
 * for a complete one. Node has no public way to reset without ending, so this sets the stream's
 * own "shutdown already done" flag, which makes every shutdown path a no-op, and then closes.
 * The reset tests in hbone.test.ts prove the peer sees no FIN, should Node's internals change.
 */
export function resetStream(stream: http2.Http2Stream, code: number = NGHTTP2_CONNECT_ERROR): void {
  if (stream.closed || stream.destroyed) return;
  const kState = Object.getOwnPropertySymbols(stream).find((s) => s.description === "state");
  const state = kState === undefined ? undefined : (stream as unknown as Record<symbol, unknown>)[kState];
  if (typeof state === "object" && state !== null && "shutdownWritableCalled" in state) {
    (state as { shutdownWritableCalled: boolean }).shutdownWritableCalled = true;
  }
  stream.close(code);
}

export interface TunnelResult {
  /** Bytes read from the socket and sent into the tunnel. */
  readonly fromSocket: number;
  /** Bytes received from the tunnel and written to the socket. */
  readonly toSocket: number;
  /** How the tunnel ended: both sides finished, or which side aborted. */
  readonly outcome: "closed" | "stream_reset" | "socket_reset";
  /** The RST_STREAM code received or sent, when reset. */
  readonly rstCode?: number;
  readonly error?: Error;
}

/**
 * Pipes `stream` <-> `socket` until both are closed. The socket must have been created with
 * allowHalfOpen (so a FIN from the app does not close our write side).
 */
export function spliceTunnel(stream: http2.Http2Stream, socket: net.Socket): Promise<TunnelResult> {
  return new Promise((resolve) => {
    let outcome: TunnelResult["outcome"] = "closed";
    let rstCode: number | undefined;
    let error: Error | undefined;
    let streamClosed = false;
    let socketClosed = false;

    const finish = (): void => {
      if (!streamClosed || !socketClosed) return;
      resolve({
        fromSocket: socket.bytesRead,
        toSocket: socket.bytesWritten,
        outcome,
        ...(rstCode !== undefined ? { rstCode } : {}),
        ...(error !== undefined ? { error } : {}),
      });
    };

    socket.pipe(stream);
    stream.pipe(socket);

    stream.on("error", (err) => {
      error ??= err;
    });
    socket.on("error", (err) => {
      error ??= err;
      // The app's connection broke (RST, EPIPE): abort the stream so the far end resets too,
      // instead of a clean END_STREAM that would pass for a normal close.
      if (!stream.closed && !stream.destroyed) {
        if (outcome === "closed") outcome = "socket_reset";
        rstCode = NGHTTP2_CONNECT_ERROR;
        resetStream(stream);
      }
    });
    stream.on("close", () => {
      streamClosed = true;
      const code = stream.rstCode;
      const clean = code === NGHTTP2_NO_ERROR && stream.readableEnded && stream.writableFinished;
      if (!clean && outcome === "closed") {
        outcome = "stream_reset";
        rstCode = code ?? NGHTTP2_CANCEL;
      }
      if (!clean && !socket.destroyed) {
        // The tunnel was torn down mid-flight: the app must see a reset, not a FIN that would
        // make a truncated transfer look complete.
        socket.resetAndDestroy();
      }
      finish();
    });
    socket.on("close", () => {
      socketClosed = true;
      if (!stream.closed && !stream.destroyed && !(stream.writableFinished && stream.readableEnded)) {
        // Closed without both FINs having crossed (destroyed locally or by a reset already seen).
        if (outcome === "closed" && socket.readableEnded && socket.writableFinished) {
          // both directions finished; the stream will close on its own
        } else {
          if (outcome === "closed") outcome = "socket_reset";
          rstCode ??= NGHTTP2_CONNECT_ERROR;
          resetStream(stream);
        }
      }
      finish();
    });
  });
}
