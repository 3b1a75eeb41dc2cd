// The :15001 handler (DESIGN §3 outbound): an app's connection, captured by connect4/6, is routed
// by buildRequest (pure, in @weft/state) and carried over HBONE from the pod's own identity, or
// passed through as plain TCP for destinations outside the mesh. Every connection ends in exactly
// one observer.onClose, with Istio's labels and a response flag.
import { randomFillSync } from "node:crypto";
import type http2 from "node:http2";
import type net from "node:net";
import { isWeftError, type Logger } from "@weft/core";
import {
  buildRequest,
  canonicalIp,
  ipFamily,
  workloadPrincipal,
  type OutboundDecision,
  type Snapshot,
  type Workload,
} from "@weft/state";
import { forwardedFor, spliceTunnel } from "../hbone/index.js";
import type { HbonePool, PoolKey } from "../pool/index.js";
import type { OutboundContext } from "../redirect/index.js";
import { newRecord, type ConnectionObserver, type ConnectionRecord, type ResponseFlag } from "./record.js";
import { connectInNetns } from "./sockets.js";
import { spliceSockets } from "./splice.js";

export interface OutboundProxyOptions {
  /** The store's current snapshot, read once per connection. */
  snapshot(): Snapshot;
  readonly pool: HbonePool;
  /** The node's network (addresses are looked up in it). */
  readonly network: string;
  readonly observer: ConnectionObserver;
  readonly logger: Logger;
}

const FLAG_BY_DENY: Readonly<Record<string, ResponseFlag>> = {
  UNKNOWN_SOURCE: "NR",
  INVALID_DESTINATION: "NR",
  NO_HEALTHY_UPSTREAM: "UH",
  NO_PORT_MAPPING: "NR",
  UNKNOWN_WAYPOINT: "UH",
};

/** The pod IP to use towards `peer`: same family, else the first. */
export function sourceIpFor(podIps: readonly string[], peer: string): string | undefined {
  const family = ipFamily(peer);
  return podIps.find((ip) => ipFamily(ip) === family) ?? podIps[0];
}

// Random ids for trace headers come from a pool refilled 170 ids at a time: one randomBytes call
// per connection showed up in the connection-path profile (docs/perf/l4-hot-path.md).
const ID_BYTES = 24;
const POOL = Buffer.alloc(ID_BYTES * 170);
let poolOffset = POOL.length;

/** W3C traceparent with a fresh trace and span id (ztunnel starts the trace for L4 traffic). */
export function newTraceparent(): string {
  if (poolOffset + ID_BYTES > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const id = POOL.toString("hex", poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return `00-${id.slice(0, 32)}-${id.slice(32, 48)}-00`;
}

/** Istio's baggage for the peer's telemetry: who is calling. */
export function sourceBaggage(w: Workload): string {
  return [
    `k8s.namespace.name=${w.namespace}`,
    `k8s.${w.workloadType.toLowerCase()}.name=${w.workloadName}`,
    `service.name=${w.canonicalName}`,
    ...(w.canonicalRevision !== undefined ? [`service.version=${w.canonicalRevision}`] : []),
    `k8s.cluster.name=${w.clusterId}`,
  ].join(",");
}

export class OutboundProxy {
  readonly #opts: OutboundProxyOptions;

  constructor(opts: OutboundProxyOptions) {
    this.#opts = opts;
  }

  /** PodHandlers.outbound. Owns `socket` from here on. */
  handle(socket: net.Socket, ctx: OutboundContext): void {
    socket.on("error", () => {
      /* reported through the splice result or the failure path */
    });
    const original = ctx.original;
    const destinationIp = canonicalIp(original.address) ?? original.address;
    const sourceIp = sourceIpFor(ctx.pod.ips, destinationIp) ?? "";
    const record = newRecord("outbound", sourceIp, destinationIp, original.port);
    const decision = buildRequest(this.#opts.snapshot(), {
      source: { ip: sourceIp },
      network: this.#opts.network,
      destination: { ip: destinationIp, port: original.port },
      random: Math.random,
    });
    this.#route(socket, ctx, decision, record).catch((err: unknown) => {
      this.#fail(socket, record, "UF", (err as Error).message);
    });
  }

  async #route(
    socket: net.Socket,
    ctx: OutboundContext,
    decision: OutboundDecision,
    record: ConnectionRecord,
  ): Promise<void> {
    switch (decision.kind) {
      case "deny":
        this.#fail(
          socket,
          record,
          FLAG_BY_DENY[decision.reason] ?? "NR",
          `${decision.reason}: ${decision.detail}`,
        );
        return;
      case "passthrough":
      case "direct": {
        record.source = decision.source;
        if (decision.kind === "direct") {
          record.destinationWorkload = decision.destinationWorkload;
          if (decision.destinationService !== undefined)
            record.destinationService = decision.destinationService;
        }
        record.security = decision.kind === "direct" ? "none" : "unknown";
        record.via = decision.kind;
        const { host, port } = splitAddress(decision.address);
        let upstream: net.Socket;
        try {
          upstream = await connectInNetns({ netnsPath: ctx.pod.netnsPath, host, port });
        } catch (err) {
          this.#fail(socket, record, "UF", `connect ${decision.address}: ${(err as Error).message}`);
          return;
        }
        this.#opened(record);
        const result = await spliceSockets(socket, upstream);
        record.bytesFromClient = result.fromClient;
        record.bytesFromServer = result.fromServer;
        if (result.outcome === "client_reset") record.responseFlags = "DC";
        else if (result.outcome === "server_reset") record.responseFlags = "UC";
        this.#closed(record);
        return;
      }
      case "hbone": {
        record.source = decision.source;
        record.sourcePrincipal = workloadPrincipal(decision.source);
        if (decision.destinationWorkload !== undefined) {
          record.destinationWorkload = decision.destinationWorkload;
          record.destinationPrincipal = workloadPrincipal(decision.destinationWorkload);
        } else if (decision.waypoint !== undefined) {
          record.destinationPrincipal = workloadPrincipal(decision.waypoint);
        }
        if (decision.destinationService !== undefined)
          record.destinationService = decision.destinationService;
        record.security = "mutual_tls";
        record.via = `hbone ${decision.nextHop}`;
        const srcIp = sourceIpFor(ctx.pod.ips, decision.nextHopAddress);
        const key: PoolKey = {
          srcIdentity: record.sourcePrincipal,
          dstIdentities: decision.expectedIdentities,
          nextHop: decision.nextHop,
          ...(srcIp !== undefined ? { srcIp } : {}),
          srcNetns: ctx.pod.netnsPath,
        };
        let stream: http2.ClientHttp2Stream;
        try {
          stream = await this.#opts.pool.connect(key, {
            authority: decision.authority,
            headers: {
              forwarded: forwardedFor(record.sourceIp),
              baggage: sourceBaggage(decision.source),
              traceparent: newTraceparent(),
            },
          });
        } catch (err) {
          const status = isWeftError(err)
            ? (err.details as { status?: number } | undefined)?.status
            : undefined;
          const flag: ResponseFlag =
            status === 401 || status === 403 ? "DENY" : status === 400 ? "BAD" : "UF";
          this.#fail(
            socket,
            record,
            flag,
            `HBONE to ${decision.nextHop} for ${decision.authority}: ${(err as Error).message}`,
          );
          return;
        }
        if (socket.destroyed) {
          // The app gave up while the tunnel was being set up.
          stream.close();
          this.#fail(socket, record, "DC", "the client closed before the tunnel opened");
          return;
        }
        this.#opened(record);
        const result = await spliceTunnel(stream, socket);
        record.bytesFromClient = result.fromSocket;
        record.bytesFromServer = result.toSocket;
        if (result.outcome === "socket_reset") record.responseFlags = "DC";
        else if (result.outcome === "stream_reset") record.responseFlags = "UC";
        this.#closed(record);
        return;
      }
    }
  }

  #opened(record: ConnectionRecord): void {
    record.opened = true;
    this.#opts.observer.onOpen(record);
  }

  #closed(record: ConnectionRecord): void {
    this.#opts.observer.onClose(record);
  }

  #fail(socket: net.Socket, record: ConnectionRecord, flag: ResponseFlag, reason: string): void {
    if (!socket.destroyed) socket.resetAndDestroy();
    record.responseFlags = flag;
    record.reason = reason;
    this.#opts.logger.debug(
      { src: record.sourceIp, dst: `${record.destinationIp}:${record.destinationPort}`, flag, reason },
      "outbound refused",
    );
    this.#closed(record);
  }
}

/** `ip:port` or `[v6]:port` → parts (addresses from buildRequest are always well formed). */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon);
  return { host: host.startsWith("[") ? host.slice(1, -1) : host, port: Number(address.slice(colon + 1)) };
}
