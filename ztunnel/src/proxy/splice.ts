// Splices two TCP sockets (passthrough and plaintext inbound) with TCP semantics preserved: a FIN
// travels as a FIN (half-close), a reset as a reset, and backpressure through pipe(). Byte counts
// come from the sockets' own counters at close: nothing is counted per chunk in JS.
import type net from "node:net";

export interface SpliceResult {
  /** Bytes read from `client` and written towards `server`. */
  readonly fromClient: number;
  /** Bytes read from `server` and written towards `client`. */
  readonly fromServer: number;
  readonly outcome: "closed" | "client_reset" | "server_reset";
  readonly error?: Error;
}

/**
 * Pipes client <-> server until both are closed. Both sockets must allow half-open connections
 * (allowHalfOpen), or a FIN from one side would close the other's write side early.
 */
export function spliceSockets(client: net.Socket, server: net.Socket): Promise<SpliceResult> {
  return new Promise((resolve) => {
    let outcome: SpliceResult["outcome"] = "closed";
    let error: Error | undefined;
    let open = 2;
    const onError = (side: "client" | "server", other: net.Socket) => (err: Error) => {
      error ??= err;
      if (outcome === "closed") outcome = side === "client" ? "client_reset" : "server_reset";
      // An abortive close on one side is an abortive close on the other: a FIN would make a
      // truncated transfer look complete.
      if (!other.destroyed) other.resetAndDestroy();
    };
    const onClose = (): void => {
      if (--open > 0) return;
      resolve({
        fromClient: client.bytesRead,
        fromServer: server.bytesRead,
        outcome,
        ...(error !== undefined ? { error } : {}),
      });
    };
    client.on("error", onError("client", server));
    server.on("error", onError("server", client));
    // A side that closes before both of its directions finished was destroyed (locally or by a
    // reset already seen): the other side must see a reset too, never a clean close.
    const onSideClose = (side: net.Socket, other: net.Socket) => (): void => {
      if (!(side.readableEnded && side.writableFinished) && !other.destroyed) other.resetAndDestroy();
      onClose();
    };
    client.once("close", onSideClose(client, server));
    server.once("close", onSideClose(server, client));
    client.pipe(server);
    server.pipe(client);
  });
}
