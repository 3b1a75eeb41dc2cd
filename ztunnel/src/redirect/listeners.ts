// ztunnel's sockets inside a pod netns (DESIGN §4: created there by the native addon on its own
// pthread, then served by Node from the fd), and the interface the data path serves them through.
import dgram from "node:dgram";
import net from "node:net";
import { once } from "node:events";
import { ZTUNNEL_SOCKET_MARK, closeFd, socketInNetns, type Endpoint, type OrigDst } from "@weft/native";
import type { ListenerRole, ListenerSpec, PodRecord } from "./pod.js";

export interface ConnectionContext {
  readonly pod: PodRecord;
}

export interface OutboundContext extends ConnectionContext {
  /** Where the app connected to (connect4/6 recorded it; already taken from weft_orig_conn). */
  readonly original: OrigDst;
}

export interface InboundContext extends ConnectionContext {
  /** The pod IP and port the peer connected to (sk_lookup keeps it as the socket's local address). */
  readonly destination: Endpoint;
}

export interface DnsQueryContext extends ConnectionContext {
  readonly from: dgram.RemoteInfo;
  /** Send the answer back; the client's recvmsg hook makes it come from the server it asked. */
  reply(message: Buffer): void;
}

/**
 * What the tunnel does with the sockets of every enrolled pod. Handlers own the sockets they get.
 * Outbound connections without a recorded destination never reach a handler: they are reset.
 */
export interface PodHandlers {
  /** :15001 — an app's outbound connection. */
  outbound(socket: net.Socket, ctx: OutboundContext): void;
  /** :15006 — plaintext inbound (STRICT PeerAuthentication refuses it). */
  inbound(socket: net.Socket, ctx: InboundContext): void;
  /** :15008 — HBONE (mTLS + HTTP/2 CONNECT). */
  hbone(socket: net.Socket, ctx: InboundContext): void;
  /** :15053/udp, when DNS capture is on. */
  dnsUdp?(query: Buffer, ctx: DnsQueryContext): void;
  /** :15053/tcp, when DNS capture is on. */
  dnsTcp?(socket: net.Socket, ctx: ConnectionContext): void;
}

/**
 * Until the tunnel serves them, every captured connection is refused: capture must never turn into
 * a plaintext bypass.
 */
export const FAIL_CLOSED_HANDLERS: PodHandlers = {
  outbound: (s) => s.resetAndDestroy(),
  inbound: (s) => s.resetAndDestroy(),
  hbone: (s) => s.resetAndDestroy(),
};

/** One open in-pod socket. `fd` stays valid while `server` is open (it owns the fd). */
export interface OpenListener {
  readonly spec: ListenerSpec;
  readonly fd: number;
  readonly server: net.Server | dgram.Socket;
}

/** A pod's in-pod listeners as the data path sees them. */
export interface PodListeners {
  readonly pod: PodRecord;
  readonly listeners: readonly OpenListener[];
  /** The servers of one role (e.g. "outbound": 127.0.0.1:15001 and [::1]:15001). */
  byRole(role: ListenerRole): OpenListener[];
}

export function podListeners(pod: PodRecord, listeners: readonly OpenListener[]): PodListeners {
  return { pod, listeners, byRole: (role) => listeners.filter((l) => l.spec.role === role) };
}

/** The address a socket reports, without Node's "::ffff:" for IPv4 on a dual-stack socket. */
export function plainAddress(address: string | undefined): string {
  const a = address ?? "";
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

/** Create one socket in the netns and serve it; closes the fd when serving fails. */
export async function openListener(
  netnsPath: string,
  spec: ListenerSpec,
  onTcp: (socket: net.Socket) => void,
  onUdp: (socket: dgram.Socket, msg: Buffer, from: dgram.RemoteInfo) => void,
  onError: (err: Error) => void,
): Promise<OpenListener> {
  const fd = await socketInNetns(netnsPath, {
    family: spec.family,
    type: spec.type,
    address: spec.address,
    port: spec.port,
    reuseaddr: true,
    v6only: spec.v6only,
    mark: ZTUNNEL_SOCKET_MARK,
    ...(spec.type === "tcp" ? { backlog: 511 } : {}),
  });
  try {
    if (spec.type === "tcp") {
      // Half-open: an app that half-closes (FIN) must still get the rest of the answer; the tunnel
      // carries the FIN as END_STREAM instead of closing the connection.
      const server = net.createServer({ allowHalfOpen: true }, onTcp);
      // accept() errors (EMFILE, ENFILE) must not crash the agent: every pod shares the process.
      server.on("error", onError);
      const listening = once(server, "listening");
      server.listen({ fd });
      await listening;
      return { spec, fd, server };
    }
    const socket = dgram.createSocket(spec.family === 6 ? "udp6" : "udp4");
    socket.on("message", (msg, from) => onUdp(socket, msg, from));
    socket.on("error", onError);
    // dgram emits "listening" synchronously inside bind({ fd }): subscribe first.
    const listening = once(socket, "listening");
    socket.bind({ fd });
    await listening;
    return { spec, fd, server: socket };
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/**
 * Stop listening. The listening socket closes now (so its weft_listeners entry goes with it);
 * established connections belong to the handlers and drain with them, so this does not wait for
 * them (net.Server's close callback would).
 */
export function closeListener(l: OpenListener): void {
  try {
    l.server.close();
  } catch {
    // already closed
  }
}
