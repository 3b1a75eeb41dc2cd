// HBONE connection pool (DESIGN §7, §12): tunnelled connections with the same source identity,
// acceptable destination identities, next hop and source IP share HTTP/2 sessions, at most 100
// streams each. A handshake is the expensive part, so creation is coalesced: a new session is
// started only when every open and every in-progress session of the key is full, and the streams
// that arrive meanwhile wait for the in-progress one (1000 simultaneous new streams cost 10
// handshakes, not 1000). Sessions leave the pool on GOAWAY, error or close, and after sitting
// idle (no streams) for the idle timeout.
import type http2 from "node:http2";
import { createLogger, weftError, type Logger } from "@weft/core";
import { hboneConnect, type HboneConnectOptions } from "../hbone/index.js";
import { HBONE_MAX_CONCURRENT_STREAMS } from "../hbone/settings.js";

export interface PoolKey {
  /** SPIFFE URI this side presents. */
  readonly srcIdentity: string;
  /** SPIFFE URIs the peer may present; order does not matter. */
  readonly dstIdentities: readonly string[];
  /** `ip:port` of the HBONE peer. */
  readonly nextHop: string;
  /** Source IP to bind (the source pod's IP), or undefined for ztunnel's own. */
  readonly srcIp?: string;
  /**
   * Network namespace to dial from (the source pod's), so the connection leaves with the pod's IP
   * and NetworkPolicies see the real source; undefined dials from ztunnel's own netns.
   */
  readonly srcNetns?: string;
}

/** The map key: dstIdentities sorted so the same set always lands in the same bucket. */
export function poolKeyId(key: PoolKey): string {
  const dst =
    key.dstIdentities.length <= 1 ? key.dstIdentities.join(",") : [...key.dstIdentities].sort().join(",");
  return `${key.srcIdentity}|${dst}|${key.nextHop}|${key.srcIp ?? ""}|${key.srcNetns ?? ""}`;
}

export interface HbonePoolOptions {
  /** Opens a session for `key` (connectHboneSession with the key's identity and next hop). */
  connect(key: PoolKey): Promise<http2.ClientHttp2Session>;
  /** Default 100 (DESIGN §7); the peer's SETTINGS_MAX_CONCURRENT_STREAMS lowers it. */
  readonly maxStreamsPerConnection?: number;
  /** Default 5 minutes. */
  readonly idleTimeoutMs?: number;
  readonly logger?: Logger;
}

export const DEFAULT_POOL_IDLE_TIMEOUT_MS = 5 * 60_000;

class PooledConnection {
  streams = 0;
  totalStreams = 0;
  draining = false;
  idleTimer: NodeJS.Timeout | undefined;
  readonly createdAt = Date.now();
  idleSince = Date.now();

  constructor(
    readonly id: number,
    readonly session: http2.ClientHttp2Session,
    readonly max: number,
  ) {}

  get limit(): number {
    const remote = this.session.remoteSettings.maxConcurrentStreams;
    return remote !== undefined && remote < this.max ? remote : this.max;
  }

  get usable(): boolean {
    return !this.draining && !this.session.closed && !this.session.destroyed;
  }
}

interface PendingConnection {
  reserved: number;
  readonly promise: Promise<PooledConnection>;
}

interface KeyEntry {
  readonly key: PoolKey;
  readonly connections: PooledConnection[];
  readonly pending: PendingConnection[];
}

export interface PoolConnectionSnapshot {
  readonly id: number;
  readonly streams: number;
  readonly limit: number;
  readonly totalStreams: number;
  readonly draining: boolean;
  readonly ageMs: number;
  /** How long it has had no streams; 0 while in use. */
  readonly idleMs: number;
}

export interface PoolSnapshot {
  readonly keys: readonly {
    readonly key: PoolKey;
    readonly connections: readonly PoolConnectionSnapshot[];
    readonly connecting: number;
  }[];
  readonly connections: number;
  readonly streams: number;
  /** Sessions ever opened (handshakes attempted) and how many of those failed. */
  readonly handshakes: number;
  readonly handshakeFailures: number;
}

export class HbonePool {
  readonly #opts: HbonePoolOptions;
  readonly #max: number;
  readonly #idleMs: number;
  readonly #log: Logger;
  readonly #entries = new Map<string, KeyEntry>();
  #nextId = 1;
  #handshakes = 0;
  #handshakeFailures = 0;
  #closed = false;

  constructor(opts: HbonePoolOptions) {
    this.#opts = opts;
    this.#max = opts.maxStreamsPerConnection ?? HBONE_MAX_CONCURRENT_STREAMS;
    this.#idleMs = opts.idleTimeoutMs ?? DEFAULT_POOL_IDLE_TIMEOUT_MS;
    this.#log = opts.logger ?? createLogger({ name: "hbone-pool" });
  }

  /**
   * Opens a CONNECT stream to `request.authority` over a pooled session for `key`. Resolves once
   * the peer answered 200; the slot is released when the stream closes.
   */
  async connect(key: PoolKey, request: HboneConnectOptions): Promise<http2.ClientHttp2Stream> {
    const conn = await this.#acquire(key);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = await hboneConnect(conn.session, request);
    } catch (err) {
      this.#release(conn);
      throw err;
    }
    stream.once("close", () => this.#release(conn));
    return stream;
  }

  #acquire(key: PoolKey): Promise<PooledConnection> {
    if (this.#closed)
      return Promise.reject(weftError("WEFT_E_UNAVAILABLE", "the HBONE pool is closed (draining)"));
    const id = poolKeyId(key);
    let entry = this.#entries.get(id);
    if (entry === undefined) {
      entry = { key, connections: [], pending: [] };
      this.#entries.set(id, entry);
    }
    for (const conn of entry.connections) {
      if (conn.usable && conn.streams < conn.limit) {
        this.#reserve(conn);
        return Promise.resolve(conn);
      }
    }
    for (const p of entry.pending) {
      if (p.reserved < this.#max) {
        p.reserved++;
        return p.promise;
      }
    }
    return this.#open(id, entry).promise;
  }

  #open(id: string, entry: KeyEntry): PendingConnection {
    this.#handshakes++;
    const pending: PendingConnection = {
      reserved: 1,
      promise: this.#opts.connect(entry.key).then(
        (session) => {
          remove(entry.pending, pending);
          const conn = new PooledConnection(this.#nextId++, session, this.#max);
          conn.streams = pending.reserved;
          conn.totalStreams = pending.reserved;
          entry.connections.push(conn);
          this.#watch(id, entry, conn);
          if (this.#closed) session.close();
          return conn;
        },
        (err: unknown) => {
          remove(entry.pending, pending);
          this.#handshakeFailures++;
          this.#forgetIfEmpty(id, entry);
          throw err;
        },
      ),
    };
    entry.pending.push(pending);
    return pending;
  }

  #watch(id: string, entry: KeyEntry, conn: PooledConnection): void {
    const retire = (why: string): void => {
      if (!conn.draining)
        this.#log.debug({ key: id, connection: conn.id, why }, "HBONE session leaves the pool");
      conn.draining = true;
    };
    conn.session.on("goaway", () => retire("goaway"));
    conn.session.on("error", (err) => {
      this.#log.warn({ err, key: id, connection: conn.id }, "HBONE session error");
      retire("error");
    });
    conn.session.once("close", () => {
      retire("close");
      if (conn.idleTimer !== undefined) clearTimeout(conn.idleTimer);
      remove(entry.connections, conn);
      this.#forgetIfEmpty(id, entry);
    });
  }

  #reserve(conn: PooledConnection): void {
    conn.streams++;
    conn.totalStreams++;
    if (conn.idleTimer !== undefined) {
      clearTimeout(conn.idleTimer);
      conn.idleTimer = undefined;
    }
  }

  #release(conn: PooledConnection): void {
    conn.streams--;
    if (conn.streams > 0) return;
    conn.idleSince = Date.now();
    if (conn.draining) {
      // Nothing left on a session the peer (or we) stopped: close it now rather than at idle.
      conn.session.close();
      return;
    }
    conn.idleTimer = setTimeout(() => {
      conn.draining = true;
      conn.session.close();
    }, this.#idleMs);
    conn.idleTimer.unref();
  }

  #forgetIfEmpty(id: string, entry: KeyEntry): void {
    if (entry.connections.length === 0 && entry.pending.length === 0 && this.#entries.get(id) === entry) {
      this.#entries.delete(id);
    }
  }

  snapshot(): PoolSnapshot {
    const now = Date.now();
    let connections = 0;
    let streams = 0;
    const keys = [...this.#entries.values()].map((e) => ({
      key: e.key,
      connecting: e.pending.length,
      connections: e.connections.map((c): PoolConnectionSnapshot => {
        connections++;
        streams += c.streams;
        return {
          id: c.id,
          streams: c.streams,
          limit: c.limit,
          totalStreams: c.totalStreams,
          draining: c.draining,
          ageMs: now - c.createdAt,
          idleMs: c.streams === 0 ? now - c.idleSince : 0,
        };
      }),
    }));
    return {
      keys,
      connections,
      streams,
      handshakes: this.#handshakes,
      handshakeFailures: this.#handshakeFailures,
    };
  }

  /** Open sessions and streams in use, cheaply (for gauges). */
  get size(): { connections: number; streams: number } {
    let connections = 0;
    let streams = 0;
    for (const e of this.#entries.values()) {
      for (const c of e.connections) {
        connections++;
        streams += c.streams;
      }
    }
    return { connections, streams };
  }

  /** GOAWAY on every session (streams in flight finish); `force` destroys them. No new streams. */
  close(force = false): void {
    this.#closed = true;
    for (const e of this.#entries.values()) {
      for (const c of e.connections) {
        c.draining = true;
        if (c.idleTimer !== undefined) clearTimeout(c.idleTimer);
        if (force) c.session.destroy();
        else c.session.close();
      }
    }
  }
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
