// Sockets created inside a pod's network namespace (the addon does setns on a dedicated pthread),
// and the cookies that tie sockets and namespaces to BPF map keys.
import { native, type NativeSocketOptions } from "./binding.js";
import { toWeftError, wrapNative } from "./errors.js";

/** SO_MARK on ztunnel's own sockets, for diagnostics (DESIGN §4). */
export const ZTUNNEL_SOCKET_MARK = 0x539;

/**
 * SO_MARK of ztunnel's transparent sockets to apps (inbound, from the client's own IP), and the
 * pod-netns routing table that sends packets with it to the local host: the app's answers, which
 * carry it too (tcp_fwmark_accept), come back to ztunnel instead of leaving by the default route.
 * Its own value, not ZTUNNEL_SOCKET_MARK: ztunnel's outbound sockets in the pod must route out.
 */
export const ORIGINAL_SOURCE_MARK = 0x53a;
export const ORIGINAL_SOURCE_TABLE = 1339;

export interface OriginalSourceOptions {
  /** Also set up IPv6 (the netns has IPv6 enabled). */
  readonly ipv6: boolean;
}

export type SocketInNetnsOptions = NativeSocketOptions;

export function netnsPathOfPid(pid: number): string {
  return `/proc/${pid}/ns/net`;
}

export function namedNetnsPath(name: string): string {
  return `/run/netns/${name}`;
}

function describe(o: SocketInNetnsOptions): string {
  const where =
    o.address === undefined ? "" : ` on ${o.family === 6 ? `[${o.address}]` : o.address}:${o.port ?? 0}`;
  return `${o.type}${o.family === 6 ? "6" : "4"} socket${where}`;
}

/**
 * Create a socket inside the network namespace at `netnsPath`: bound when `address` is given,
 * listening when `backlog` is. Resolves to an fd the caller owns: hand it to
 * `net.Server.listen({ fd })` or `new net.Socket({ fd })`, or closeFd() it.
 */
export function socketInNetns(netnsPath: string, options: SocketInNetnsOptions): Promise<number> {
  const action = `cannot create a ${describe(options)} in ${netnsPath}`;
  return new Promise((resolve, reject) => {
    try {
      native().socketInNetns(netnsPath, options, (err, fd) => {
        if (err !== null) reject(toWeftError(err, action, "netns"));
        else resolve(fd);
      });
    } catch (err) {
      reject(toWeftError(err, action, "netns"));
    }
  });
}

/** Most sockets socketsInNetns makes in one call. */
export const MAX_SOCKET_BATCH = 64;

/**
 * `count` identical sockets (1..MAX_SOCKET_BATCH) in the network namespace at `netnsPath`, made in
 * one visit there (one thread and setns pair for all of them): for callers that keep sockets
 * ready. All or nothing: on an error none is left open. Listening sockets (`backlog`) are refused.
 */
export function socketsInNetns(
  netnsPath: string,
  options: SocketInNetnsOptions,
  count: number,
): Promise<number[]> {
  const action = `cannot create ${count} × ${describe(options)} in ${netnsPath}`;
  return new Promise((resolve, reject) => {
    try {
      native().socketInNetns(netnsPath, { ...options, count }, (err, fds) => {
        if (err !== null) reject(toWeftError(err, action, "netns"));
        else resolve(fds);
      });
    } catch (err) {
      reject(toWeftError(err, action, "netns"));
    }
  });
}

/** The cookie of the network namespace at `netnsPath` (what bpf_get_netns_cookie returns there). */
export function netnsCookie(netnsPath: string): Promise<bigint> {
  const action = `cannot read the cookie of network namespace ${netnsPath}`;
  return new Promise((resolve, reject) => {
    try {
      native().netnsCookie(netnsPath, (err, cookie) => {
        if (err !== null) reject(toWeftError(err, action, "netns"));
        else resolve(cookie);
      });
    } catch (err) {
      reject(toWeftError(err, action, "netns"));
    }
  });
}

function originalSourceJob(
  netnsPath: string,
  options: OriginalSourceOptions,
  remove: boolean,
): Promise<void> {
  const action = remove
    ? `cannot take down original-source routing in network namespace ${netnsPath}`
    : `cannot set up original-source routing (tcp_fwmark_accept, fwmark rule, local table) in network namespace ${netnsPath}`;
  return new Promise((resolve, reject) => {
    try {
      native().netnsOriginalSource(
        netnsPath,
        { mark: ORIGINAL_SOURCE_MARK, table: ORIGINAL_SOURCE_TABLE, ipv6: options.ipv6, remove },
        (err) => {
          if (err !== null) reject(toWeftError(err, action, "netns"));
          else resolve();
        },
      );
    } catch (err) {
      reject(toWeftError(err, action, "netns"));
    }
  });
}

/**
 * Makes the pod netns at `netnsPath` return answers to ztunnel's transparent sockets: sets
 * net.ipv4.tcp_fwmark_accept=1, adds `fwmark ORIGINAL_SOURCE_MARK lookup ORIGINAL_SOURCE_TABLE`
 * and `local default dev lo table ORIGINAL_SOURCE_TABLE` (IPv4, and IPv6 when asked). Idempotent.
 */
export function setUpOriginalSource(netnsPath: string, options: OriginalSourceOptions): Promise<void> {
  return originalSourceJob(netnsPath, options, false);
}

/** Undoes setUpOriginalSource (sysctl back to 0, rule and route removed); idempotent. */
export function takeDownOriginalSource(netnsPath: string, options: OriginalSourceOptions): Promise<void> {
  return originalSourceJob(netnsPath, options, true);
}

/**
 * Binds socket `fd` (made anywhere, e.g. in a pod netns) to `address`:`port` and returns the bound
 * port (the one the kernel chose for port 0). Synchronous: one bind and one getsockname.
 */
export function bindSocket(fd: number, address: string, port = 0): number {
  return wrapNative(`cannot bind socket fd ${fd} to ${address}:${port}`, "netns", () =>
    native().socketBind(fd, address, port),
  );
}

/** SO_COOKIE of a socket: what bpf_get_socket_cookie sees, and what a sockhash lookup returns. */
export function socketCookie(fd: number): bigint {
  return wrapNative(`cannot read the cookie of socket fd ${fd}`, "netns", () => native().socketCookie(fd));
}

/** SO_NETNS_COOKIE of a socket: the cookie of the network namespace it lives in. */
export function socketNetnsCookie(fd: number): bigint {
  return wrapNative(`cannot read the netns cookie of socket fd ${fd}`, "netns", () =>
    native().socketNetnsCookie(fd),
  );
}

/** Close an fd this process owns (e.g. one from socketInNetns that was not handed to net). */
export function closeFd(fd: number): void {
  wrapNative(`cannot close fd ${fd}`, "bpf", () => native().closeFd(fd));
}
