// The in-pod DNS proxy (:15053, DESIGN §2/§4): the Redirector hands it each captured UDP query and
// TCP connection of an enrolled pod; mesh names are answered from the current snapshot
// (resolve.ts), everything else is forwarded upstream from ztunnel's own process (forward.ts).
// A bad query or a failing upstream costs that query only: nothing here may throw into the
// Redirector or leave the process.
import type dgram from "node:dgram";
import type net from "node:net";
import { decode, type DecodedPacket } from "dns-packet";
import type { Logger } from "@weft/core";
import type { Snapshot } from "@weft/state";
import type { ConnectionContext, DnsQueryContext, PodHandlers } from "../redirect/listeners.js";
import type { PodRecord } from "../redirect/pod.js";
import { exchangeTcp, exchangeUdp, type OpenSockets } from "./forward.js";
import {
  HEADER_LENGTH,
  RCODE,
  TCP_LIMIT,
  buildReply,
  headerOnlyReply,
  isResponse,
  isTruncated,
  messageId,
  opcodeOf,
  udpLimitOf,
} from "./message.js";
import { resolveDns } from "./resolve.js";
import type { Upstream } from "./upstream.js";

/** Istio's TTL for the answers it makes: short, so clients follow VIP changes quickly. */
export const DNS_TTL_SECONDS = 30;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 2000;
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 10_000;
/** Queries of one TCP connection in flight before the proxy stops reading from it. */
const TCP_MAX_IN_FLIGHT = 16;
/**
 * Forwarded queries in flight across all pods (each holds a socket): beyond this a query gets
 * SERVFAIL at once, so a pod flooding UDP/53 cannot exhaust ztunnel's file descriptors.
 */
const MAX_FORWARDS_IN_FLIGHT = 1024;

export interface DnsProxyOptions {
  /** The mesh as it is now (StateStore.current): read per query, never cached here. */
  readonly snapshot: () => Snapshot;
  /** Tried in order until one replies; none (or all failing) means SERVFAIL for forwarded names. */
  readonly upstreams: readonly Upstream[];
  /** Cluster domain; default "cluster.local". */
  readonly domainSuffix?: string;
  /** TTL of mesh answers in seconds; default 30. */
  readonly ttl?: number;
  /** Per upstream and per transport attempt; default 2 s. */
  readonly upstreamTimeoutMs?: number;
  /** A TCP client connection with nothing in flight is closed after this long; default 10 s. */
  readonly tcpIdleTimeoutMs?: number;
  readonly log?: Logger;
}

/** Counters for weft_dns_* metrics. Every query the proxy takes ends in exactly one of them. */
export interface DnsProxyStats {
  /** Mesh names answered by us with NOERROR (with records, or none of the asked family). */
  answered: number;
  /** Answered by us with NXDOMAIN. */
  nxdomain: number;
  /** Forwarded and relayed the upstream's reply (whatever its rcode). */
  forwarded: number;
  /** Forwarded, no upstream replied: SERVFAIL to the client. */
  failed: number;
  /** Unparseable or unsupported: FORMERR/NOTIMP to the client, or dropped when not even a header. */
  malformed: number;
}

type Transport = "udp" | "tcp";

export class DnsProxy {
  readonly stats: DnsProxyStats = { answered: 0, nxdomain: 0, forwarded: 0, failed: 0, malformed: 0 };
  readonly #snapshot: () => Snapshot;
  readonly #upstreams: readonly Upstream[];
  readonly #resolveOptions: { domainSuffix: string; ttl: number };
  readonly #upstreamTimeoutMs: number;
  readonly #tcpIdleTimeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #upstreamSockets: OpenSockets = new Set<dgram.Socket | net.Socket>();
  readonly #clients = new Set<net.Socket>();
  #forwardsInFlight = 0;
  #closed = false;

  constructor(options: DnsProxyOptions) {
    this.#snapshot = options.snapshot;
    this.#upstreams = options.upstreams;
    this.#resolveOptions = {
      domainSuffix: (options.domainSuffix ?? "cluster.local").replace(/^\.+|\.+$/g, "").toLowerCase(),
      ttl: options.ttl ?? DNS_TTL_SECONDS,
    };
    this.#upstreamTimeoutMs = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
    this.#tcpIdleTimeoutMs = options.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_TIMEOUT_MS;
    this.#log = options.log;
  }

  /** The two PodHandlers entries this proxy serves, bound to it: `{ ...FAIL_CLOSED_HANDLERS, ...proxy.podHandlers() }`. */
  podHandlers(): Required<Pick<PodHandlers, "dnsUdp" | "dnsTcp">> {
    return {
      dnsUdp: (query, ctx) => this.handleUdp(query, ctx),
      dnsTcp: (socket, ctx) => this.handleTcp(socket, ctx),
    };
  }

  /** PodHandlers.dnsUdp: one datagram from a pod; the reply goes through ctx.reply. */
  handleUdp(query: Buffer, ctx: DnsQueryContext): void {
    this.#answer(query, ctx.pod, "udp").then(
      (reply) => {
        if (reply !== undefined && !this.#closed) ctx.reply(reply);
      },
      (err: unknown) => this.#log?.error({ err, pod: podName(ctx.pod) }, "dns: udp query failed"),
    );
  }

  /** PodHandlers.dnsTcp: length-prefixed queries (RFC 7766), several per connection, pipelined. */
  handleTcp(socket: net.Socket, ctx: ConnectionContext): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#clients.add(socket);
    socket.setNoDelay(true);
    // A client may send its queries and half-close: the replies it is owed still go out.
    socket.allowHalfOpen = true;
    let pending: Buffer | undefined;
    let inFlight = 0;
    let clientEnded = false;

    const finishIfDone = (): void => {
      if (clientEnded && inFlight === 0 && !socket.destroyed) socket.end();
    };
    // Take complete messages off `pending` while fewer than TCP_MAX_IN_FLIGHT are in flight; the
    // rest waits (and reading pauses), so one connection cannot start unbounded upstream work.
    const drain = (): void => {
      while (pending !== undefined && pending.length >= 2 && inFlight < TCP_MAX_IN_FLIGHT) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const query = pending.subarray(2, 2 + length);
        pending = pending.length === 2 + length ? undefined : pending.subarray(2 + length);
        if (length < HEADER_LENGTH) {
          // Not even a header: there is no id to answer, and the framing may be lost. Hang up.
          this.#malformed(ctx.pod, "tcp message shorter than a DNS header");
          socket.destroy();
          return;
        }
        inFlight++;
        this.#answer(query, ctx.pod, "tcp")
          .then(
            (reply) => {
              if (reply !== undefined && !socket.destroyed) socket.write(framed(reply));
            },
            (err: unknown) => this.#log?.error({ err, pod: podName(ctx.pod) }, "dns: tcp query failed"),
          )
          .finally(() => {
            inFlight--;
            drain();
            finishIfDone();
          });
      }
      if (inFlight >= TCP_MAX_IN_FLIGHT) socket.pause();
      else if (socket.isPaused()) socket.resume();
    };

    socket.setTimeout(this.#tcpIdleTimeoutMs, () => {
      // Idle means nothing to read and nothing owed: a slow upstream does not cut a client off.
      if (inFlight === 0) socket.destroy();
    });
    socket.on("error", (err) => this.#log?.debug({ err, pod: podName(ctx.pod) }, "dns: tcp client error"));
    socket.on("close", () => this.#clients.delete(socket));
    socket.on("end", () => {
      clientEnded = true;
      finishIfDone();
    });
    socket.on("data", (chunk: Buffer) => {
      pending = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      drain();
    });
  }

  /** Stop: in-flight upstream exchanges and TCP clients are closed; late replies are dropped. */
  close(): void {
    this.#closed = true;
    for (const s of this.#upstreamSockets) closeQuietly(s);
    this.#upstreamSockets.clear();
    for (const s of this.#clients) s.destroy();
    this.#clients.clear();
  }

  /** The reply to one query, or undefined to send nothing. Never rejects for a bad query. */
  async #answer(query: Buffer, pod: PodRecord, transport: Transport): Promise<Buffer | undefined> {
    if (query.length < HEADER_LENGTH) {
      this.#malformed(pod, "udp message shorter than a DNS header");
      return undefined;
    }
    // A response sent to us is never answered: two proxies must not ping-pong.
    if (isResponse(query)) {
      this.#malformed(pod, "message is a response, not a query");
      return undefined;
    }
    if (opcodeOf(query) !== 0) {
      this.#malformed(pod, `opcode ${opcodeOf(query)} is not QUERY`);
      return headerOnlyReply(query, RCODE.NOTIMP);
    }
    let packet: DecodedPacket;
    try {
      packet = decode(query);
    } catch (err) {
      this.#malformed(pod, `undecodable: ${(err as Error).message}`);
      return headerOnlyReply(query, RCODE.FORMERR);
    }
    const question = packet.questions?.[0];
    if (question === undefined || packet.questions?.length !== 1) {
      // RFC 9619: exactly one question; anything else is FORMERR.
      this.#malformed(pod, `${packet.questions?.length ?? 0} questions`);
      return headerOnlyReply(query, RCODE.FORMERR);
    }
    const limit = transport === "tcp" ? TCP_LIMIT : udpLimitOf(packet);

    if ((question.class ?? "IN") === "IN") {
      const resolution = resolveDns(
        this.#snapshot(),
        question,
        { namespace: pod.namespace },
        this.#resolveOptions,
      );
      switch (resolution.kind) {
        case "answer":
        case "nodata":
          this.stats.answered++;
          this.#log?.debug(
            { pod: podName(pod), name: question.name, type: question.type, result: resolution.kind },
            "dns: answered",
          );
          return buildReply(packet, resolution, limit);
        case "nxdomain":
          this.stats.nxdomain++;
          this.#log?.debug({ pod: podName(pod), name: question.name, type: question.type }, "dns: nxdomain");
          return buildReply(packet, resolution, limit);
        case "forward":
          break;
      }
    }
    if (this.#forwardsInFlight >= MAX_FORWARDS_IN_FLIGHT) {
      this.stats.failed++;
      this.#log?.warn(
        { pod: podName(pod), name: question.name, inFlight: this.#forwardsInFlight },
        "dns: too many forwarded queries in flight; answering SERVFAIL",
      );
      return buildReply(packet, { kind: "servfail" }, limit);
    }
    this.#forwardsInFlight++;
    let reply: Buffer | undefined;
    try {
      reply = await this.#forward(query, limit);
    } finally {
      this.#forwardsInFlight--;
    }
    if (reply === undefined) {
      if (this.#closed) return undefined;
      this.stats.failed++;
      this.#log?.warn(
        { pod: podName(pod), name: question.name, type: question.type, upstreams: this.#upstreams },
        "dns: no upstream replied; answering SERVFAIL",
      );
      return buildReply(packet, { kind: "servfail" }, limit);
    }
    this.stats.forwarded++;
    reply.writeUInt16BE(messageId(query), 0);
    return reply;
  }

  /**
   * The first reply of the upstreams, tried in order: UDP first, then TCP when the UDP reply is
   * truncated. A TCP reply too large for the client's UDP limit is dropped in favour of the
   * truncated one, which tells the client to ask us over TCP.
   */
  async #forward(query: Buffer, limit: number): Promise<Buffer | undefined> {
    for (const upstream of this.#upstreams) {
      if (this.#closed) return undefined;
      let udpReply: Buffer;
      try {
        udpReply = await exchangeUdp(query, upstream, this.#upstreamTimeoutMs, this.#upstreamSockets);
      } catch (err) {
        this.#log?.debug({ err, upstream }, "dns: upstream failed over udp");
        continue;
      }
      if (!isTruncated(udpReply)) return udpReply;
      try {
        const tcpReply = await exchangeTcp(query, upstream, this.#upstreamTimeoutMs, this.#upstreamSockets);
        // Copied out of the connection's receive buffer so the id can be rewritten safely.
        return tcpReply.length <= limit ? Buffer.from(tcpReply) : udpReply;
      } catch (err) {
        this.#log?.debug({ err, upstream }, "dns: upstream failed over tcp after truncation");
        return udpReply;
      }
    }
    return undefined;
  }

  #malformed(pod: PodRecord, reason: string): void {
    this.stats.malformed++;
    this.#log?.info({ pod: podName(pod), reason }, "dns: malformed query");
  }
}

function podName(pod: PodRecord): string {
  return `${pod.namespace}/${pod.name}`;
}

function framed(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

function closeQuietly(socket: dgram.Socket | net.Socket): void {
  try {
    if ("destroy" in socket) socket.destroy();
    else socket.close();
  } catch {
    // already closed
  }
}
