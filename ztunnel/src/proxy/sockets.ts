// Sockets ztunnel opens inside a pod's network namespace: the native addon creates (and binds)
// them there on its own thread, and Node connects them from the fd (DESIGN §4). Used for the
// upstream leg of inbound tunnels (connect to the app from inside the destination pod) and for
// outbound legs that must leave from the source pod (HBONE with the pod's IP, passthrough).
//
// Making a socket in a netns costs a thread, two opens and two setns calls (the addon's per-request
// thread) and an event-loop round trip: ~22 % of inbound connection setup in the connect-loop
// profile (docs/perf/l4-hot-path.md). So sockets are made SOCKET_BATCH at a time per netns and
// source address, and a connection takes a ready one. The ready sockets are created, bound and
// marked exactly as before, only earlier; they are closed when the pod is unenrolled
// (releaseNetnsSockets), and after SOCKET_IDLE_MS without use, so an idle pod holds none.
import net from "node:net";
import { once } from "node:events";
import { weftError } from "@weft/core";
import {
  ORIGINAL_SOURCE_MARK,
  ZTUNNEL_SOCKET_MARK,
  bindSocket,
  closeFd,
  socketsInNetns,
  type SocketInNetnsOptions,
} from "@weft/native";

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
  /**
   * Connect from this address although it is not local (the client's own IP: a transparent
   * socket, marked so the pod's fwmark rule routes the app's answers back to it). `register` is
   * called with the bound port before the SYN leaves (weft_orig_src, so sk_lookup lets it through)
   * and returns the release, called once the connect is done either way. Excludes localAddress.
   */
  readonly originalSource?: {
    readonly address: string;
    readonly register: (port: number) => () => void;
  };
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A TCP socket created in `netnsPath` and connecting to host:port. Resolves once connected. The
 * socket is half-open capable (allowHalfOpen), as every tunnel leg must be.
 */
export async function connectInNetns(dial: NetnsDial): Promise<net.Socket> {
  if (dial.originalSource !== undefined) return connectFromOriginalSource(dial, dial.originalSource);
  const socket = dialInNetns(await socketFor(dial), dial);
  await connected(socket, dial);
  return socket;
}

/** Resolves once `socket` is connected; destroys it after the dial's timeout. */
async function connected(socket: net.Socket, dial: NetnsDial): Promise<void> {
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
}

async function connectFromOriginalSource(
  dial: NetnsDial,
  source: NonNullable<NetnsDial["originalSource"]>,
): Promise<net.Socket> {
  const family = net.isIP(dial.host);
  if (family === 0 || net.isIP(source.address) !== family) {
    throw weftError(
      "WEFT_E_INVALID_INPUT",
      `cannot dial ${dial.host} from ${source.address}: both must be IP addresses of one family`,
    );
  }
  // Ready transparent sockets are unbound: each dial binds its own client address.
  const fd = await transparentSocketFor(dial.netnsPath, family === 6 ? 6 : 4);
  let release: (() => void) | undefined;
  let socket: net.Socket;
  try {
    const port = bindSocket(fd, source.address);
    release = source.register(port);
    socket = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
  } catch (err) {
    release?.();
    closeFd(fd);
    throw err;
  }
  socket.connect({ host: dial.host, port: dial.port });
  try {
    await connected(socket, dial);
  } finally {
    release();
  }
  return socket;
}

function transparentSocketFor(netnsPath: string, family: 4 | 6): Promise<number> {
  return takeReady(`${netnsPath}\0transparent${family}`, netnsPath, {
    family,
    type: "tcp",
    transparent: true,
    mark: ORIGINAL_SOURCE_MARK,
  });
}

/** Same as connectInNetns but returns the connecting socket at once (TLS can start on it). */
export async function startConnectInNetns(dial: NetnsDial): Promise<net.Socket> {
  return dialInNetns(await socketFor(dial), dial);
}

/** Sockets made per visit to a netns. */
export const SOCKET_BATCH = 16;
/** Refill in the background when this few are left, so a steady stream of connections never waits. */
const SOCKET_LOW_WATER = 4;
/** Ready sockets of a netns unused this long are closed. */
export const SOCKET_IDLE_MS = 10_000;

/** The ready sockets of one netns and source address. */
class ReadySockets {
  readonly fds: number[] = [];
  lastUsed = performance.now();
  closed = false;
  #filling: Promise<void> | undefined;

  constructor(
    readonly netnsPath: string,
    readonly options: SocketInNetnsOptions,
  ) {}

  /** One ready fd, made now if none is left; the caller owns it. */
  async take(): Promise<number> {
    this.lastUsed = performance.now();
    for (;;) {
      const fd = this.fds.pop();
      if (fd !== undefined) {
        if (this.fds.length <= SOCKET_LOW_WATER) this.fill().catch(() => {});
        return fd;
      }
      if (this.closed) return (await socketsInNetns(this.netnsPath, this.options, 1))[0]!;
      // Concurrent takers share one fill; an error (the netns is gone) goes to each of them.
      await this.fill();
    }
  }

  fill(): Promise<void> {
    this.#filling ??= socketsInNetns(this.netnsPath, this.options, SOCKET_BATCH).then(
      (fds) => {
        this.#filling = undefined;
        // Released while the batch was being made (unenrolled, idle): nobody may use them.
        if (this.closed) fds.forEach(closeFd);
        else this.fds.push(...fds);
      },
      (err: unknown) => {
        this.#filling = undefined;
        throw err;
      },
    );
    return this.#filling;
  }

  close(): void {
    this.closed = true;
    for (const fd of this.fds.splice(0)) closeFd(fd);
  }
}

const ready = new Map<string, ReadySockets>();
let sweeper: NodeJS.Timeout | undefined;

function sweepIdle(): void {
  const now = performance.now();
  for (const [key, r] of ready) {
    if (now - r.lastUsed < SOCKET_IDLE_MS) continue;
    r.close();
    ready.delete(key);
  }
  if (ready.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * Closes the ready sockets made in `netnsPath` (the pod is being unenrolled: its netns must not be
 * kept alive by them, and a later pod at the same path must never get one). Sockets already handed
 * out belong to their connections.
 */
export function releaseNetnsSockets(netnsPath: string): void {
  for (const [key, r] of ready) {
    if (r.netnsPath !== netnsPath) continue;
    r.close();
    ready.delete(key);
  }
}

/** How many ready sockets are held, per netns path (tests, admin). */
export function readySocketCounts(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of ready.values()) out.set(r.netnsPath, (out.get(r.netnsPath) ?? 0) + r.fds.length);
  return out;
}

function socketFor(dial: NetnsDial): Promise<number> {
  const family = net.isIP(dial.host);
  if (family === 0) {
    return Promise.reject(weftError("WEFT_E_INVALID_INPUT", `cannot dial ${dial.host}: not an IP address`));
  }
  const address = dial.localAddress ?? (family === 6 ? "::" : "0.0.0.0");
  return takeReady(`${dial.netnsPath}\0${address}`, dial.netnsPath, {
    family: family === 6 ? 6 : 4,
    type: "tcp",
    address,
    port: 0,
    mark: ZTUNNEL_SOCKET_MARK,
  });
}

/** A ready socket of the kind `key` names, made in `netnsPath` with `options` when none is kept. */
function takeReady(key: string, netnsPath: string, options: SocketInNetnsOptions): Promise<number> {
  let r = ready.get(key);
  if (r === undefined) {
    r = new ReadySockets(netnsPath, options);
    ready.set(key, r);
    sweeper ??= setInterval(sweepIdle, SOCKET_IDLE_MS / 2).unref();
  }
  return r.take();
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
