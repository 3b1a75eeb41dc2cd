// Sockets ztunnel opens inside a pod's network namespace: the native addon creates (and binds)
// them there on its own thread, and Node connects them from the fd (DESIGN §4). Used for the
// upstream leg of inbound tunnels (connect to the app from inside the destination pod) and for
// outbound legs that must leave from the source pod (HBONE with the pod's IP, passthrough).
import net from "node:net";
import { once } from "node:events";
import { weftError } from "@weft/core";
import { ZTUNNEL_SOCKET_MARK, closeFd, socketInNetns } from "@weft/native";

/** Source of ztunnel's connections to an app (Istio's inbound passthrough address). */
export const INBOUND_PASSTHROUGH_V4 = "127.0.0.6";

export interface NetnsDial {
  readonly netnsPath: string;
  readonly host: string;
  readonly port: number;
  /** Local address to bind; default the unspecified address of the target's family. */
  readonly localAddress?: string;
  /** Give up connecting after this long (a SYN into a black hole). */
  readonly timeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A TCP socket created in `netnsPath` and connecting to host:port. Resolves once connected. The
 * socket is half-open capable (allowHalfOpen), as every tunnel leg must be.
 */
export async function connectInNetns(dial: NetnsDial): Promise<net.Socket> {
  const socket = dialInNetns(await socketFor(dial), dial);
  const timeoutMs = dial.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const timer = setTimeout(
    () =>
      socket.destroy(
        weftError("WEFT_E_TIMEOUT", `connect to ${dial.host}:${dial.port} took over ${timeoutMs} ms`),
      ),
    timeoutMs,
  );
  try {
    await once(socket, "connect");
  } finally {
    clearTimeout(timer);
  }
  return socket;
}

/** Same as connectInNetns but returns the connecting socket at once (TLS can start on it). */
export async function startConnectInNetns(dial: NetnsDial): Promise<net.Socket> {
  return dialInNetns(await socketFor(dial), dial);
}

async function socketFor(dial: NetnsDial): Promise<number> {
  const family = net.isIP(dial.host);
  if (family === 0) {
    throw weftError("WEFT_E_INVALID_INPUT", `cannot dial ${dial.host}: not an IP address`);
  }
  return socketInNetns(dial.netnsPath, {
    family: family === 6 ? 6 : 4,
    type: "tcp",
    address: dial.localAddress ?? (family === 6 ? "::" : "0.0.0.0"),
    port: 0,
    mark: ZTUNNEL_SOCKET_MARK,
  });
}

function dialInNetns(fd: number, dial: NetnsDial): net.Socket {
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  socket.connect({ host: dial.host, port: dial.port });
  return socket;
}
