// The inbound side (DESIGN §3): :15008 HBONE (mTLS with the landing pod's identity, :authority
// check, L4 authorization, connect to the app from inside the pod) and :15006 plaintext (only
// when PeerAuthentication allows it: STRICT arrives as the controller's converted DENY policy, so
// one authorizeInbound call decides both).
import type net from "node:net";
import { isIP } from "node:net";
import type { Logger } from "@weft/core";
import {
  authorizeInbound,
  canonicalIp,
  ipFamily,
  isWaypoint,
  serviceKey,
  workloadPrincipal,
  type InboundDecision,
  type Snapshot,
  type Workload,
} from "@weft/state";
import {
  HboneServer,
  type InboundTunnelEvent,
  type InboundTunnelFacts,
  type SocketTarget,
  type Verdict,
} from "../hbone/index.js";
import type { InboundContext, PodRecord } from "../redirect/index.js";
import type { MeshTlsContext } from "../tls/index.js";
import { newRecord, type ConnectionObserver, type ConnectionRecord } from "./record.js";
import { INBOUND_PASSTHROUGH_V4, connectInNetns } from "./sockets.js";
import { spliceSockets } from "./splice.js";

/** Where ztunnel's TLS material for an identity comes from (the identity manager). */
export interface IdentitySource {
  /** The current context for a SPIFFE URI, fetching it if needed (a connection is waiting). */
  get(identity: string): Promise<MeshTlsContext>;
}

export interface InboundProxyOptions {
  snapshot(): Snapshot;
  readonly identities: IdentitySource;
  readonly network: string;
  readonly trustDomain: string;
  readonly observer: ConnectionObserver;
  readonly logger: Logger;
  readonly handshakeTimeoutMs?: number;
}

/**
 * Original-source dials into pods (the Redirector): whether a pod's netns is set up for them, and
 * the registration that lets one dial through sk_lookup.
 */
export interface OriginalSourceDials {
  originalSourceReady(pod: PodRecord): boolean;
  registerOriginalSourceDial(
    pod: PodRecord,
    src: { address: string; port: number },
    dst: { address: string; port: number },
  ): () => void;
}

/** Source address for ztunnel's connection to an app: 127.0.0.6, or for IPv6 the pod's own IP. */
export function upstreamSourceFor(target: string): string {
  // ::6 is not a local address in the pod netns and replies to it would be lost; the pod's own
  // IPv6 is local, and sk_lookup passes a pod's traffic to itself.
  return ipFamily(target) === 6 ? target : INBOUND_PASSTHROUGH_V4;
}

function describeDecision(d: InboundDecision): string {
  return d.policy !== undefined ? `${d.reason} (${d.policy})` : d.reason;
}

export class InboundProxy {
  readonly hbone: HboneServer;
  readonly #opts: InboundProxyOptions;
  /** Landing IP → the enrolled pod, refreshed by every connection that lands there. */
  readonly #podByIp = new Map<string, PodRecord>();
  #originalSource: OriginalSourceDials | undefined;
  readonly #records = new WeakMap<InboundTunnelFacts, ConnectionRecord>();

  constructor(opts: InboundProxyOptions) {
    this.#opts = opts;
    this.hbone = new HboneServer({
      trustDomain: opts.trustDomain,
      logger: opts.logger,
      ...(opts.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
      contextFor: (socket) => this.#contextFor(socket),
      checkAuthority: (facts) => this.#checkAuthority(facts),
      authorize: (facts) => this.#authorize(facts),
      connectUpstream: (target, facts) => this.#connectUpstream(target, facts),
      onTunnelOpen: (facts) => {
        const r = this.#recordOf(facts);
        r.opened = true;
        opts.observer.onOpen(r);
      },
      onTunnel: (event) => this.#onTunnel(event),
    });
  }

  /** PodHandlers.hbone. */
  handleHbone(socket: net.Socket, ctx: InboundContext): void {
    this.#remember(ctx);
    this.hbone.handleConnection(socket);
  }

  /**
   * From now on connect to apps from the client's own IP where the pod is set up for it (ADR
   * 0006); until then, and for other pods, from 127.0.0.6.
   */
  useOriginalSource(dials: OriginalSourceDials): void {
    this.#originalSource = dials;
  }

  /** How to dial `target` in `pod` for a connection from `sourceIp`. */
  #dialTo(pod: PodRecord, target: { ip: string; port: number }, sourceIp: string) {
    const dials = this.#originalSource;
    const base = { netnsPath: pod.netnsPath, host: target.ip, port: target.port };
    if (
      dials !== undefined &&
      sourceIp !== "" &&
      ipFamily(sourceIp) === ipFamily(target.ip) &&
      dials.originalSourceReady(pod)
    ) {
      const dst = { address: target.ip, port: target.port };
      return {
        ...base,
        originalSource: {
          address: sourceIp,
          register: (port: number) => dials.registerOriginalSourceDial(pod, { address: sourceIp, port }, dst),
        },
      };
    }
    return { ...base, localAddress: upstreamSourceFor(target.ip) };
  }

  /** PodHandlers.inbound: plaintext to any port of the pod. */
  handlePlaintext(socket: net.Socket, ctx: InboundContext): void {
    socket.on("error", () => {
      /* reported through the splice result */
    });
    this.#remember(ctx);
    const destinationIp = canonicalIp(ctx.destination.address) ?? ctx.destination.address;
    const sourceIp = canonicalIp(socket.remoteAddress ?? "") ?? "";
    const record = newRecord("inbound", sourceIp, destinationIp, ctx.destination.port);
    record.security = "none";
    const snapshot = this.#opts.snapshot();
    const workload = snapshot.workloadByAddress(this.#opts.network, destinationIp);
    if (workload === undefined) {
      this.#refusePlaintext(socket, record, "NR", `no workload at ${destinationIp} in the mesh state`);
      return;
    }
    record.destinationWorkload = workload;
    record.destinationPrincipal = workloadPrincipal(workload);
    const source = snapshot.workloadByAddress(this.#opts.network, sourceIp);
    if (source !== undefined) record.source = source;
    const decision = authorizeInbound(snapshot, {
      sourceIp,
      destinationIp,
      destinationPort: ctx.destination.port,
      destinationWorkload: workload,
    });
    this.#opts.observer.onAuthorization?.({
      allow: decision.allow,
      reason: decision.reason,
      plaintext: true,
    });
    if (!decision.allow) {
      this.#refusePlaintext(socket, record, "DENY", `plaintext refused: ${describeDecision(decision)}`);
      return;
    }
    record.via = "app";
    connectInNetns(this.#dialTo(ctx.pod, { ip: destinationIp, port: ctx.destination.port }, sourceIp)).then(
      async (upstream) => {
        record.opened = true;
        this.#opts.observer.onOpen(record);
        const result = await spliceSockets(socket, upstream);
        record.bytesFromClient = result.fromClient;
        record.bytesFromServer = result.fromServer;
        if (result.outcome === "client_reset") record.responseFlags = "DC";
        else if (result.outcome === "server_reset") record.responseFlags = "UC";
        this.#opts.observer.onClose(record);
      },
      (err: unknown) =>
        this.#refusePlaintext(socket, record, "UF", `connect to the app: ${(err as Error).message}`),
    );
  }

  close(force = false): void {
    this.hbone.close(force);
  }

  #remember(ctx: InboundContext): void {
    const ip = canonicalIp(ctx.destination.address);
    if (ip !== undefined) this.#podByIp.set(ip, ctx.pod);
  }

  #refusePlaintext(
    socket: net.Socket,
    record: ConnectionRecord,
    flag: "NR" | "DENY" | "UF",
    reason: string,
  ): void {
    if (!socket.destroyed) socket.resetAndDestroy();
    record.responseFlags = flag;
    record.reason = reason;
    this.#opts.logger.info(
      { src: record.sourceIp, dst: `${record.destinationIp}:${record.destinationPort}`, flag, reason },
      "inbound plaintext refused",
    );
    this.#opts.observer.onClose(record);
  }

  #landing(localAddress: string | undefined): { ip: string; workload: Workload | undefined } {
    const ip = canonicalIp(localAddress ?? "") ?? "";
    return { ip, workload: this.#opts.snapshot().workloadByAddress(this.#opts.network, ip) };
  }

  #contextFor(socket: net.Socket): Promise<MeshTlsContext> {
    const { ip, workload } = this.#landing(socket.localAddress);
    if (workload === undefined) {
      return Promise.reject(new Error(`no workload at ${ip} in the mesh state: no identity to present`));
    }
    return this.#opts.identities.get(workloadPrincipal(workload));
  }

  /** Whether the peer is (a replica of) a waypoint serving `landing` or one of its services. */
  #fromOwnWaypoint(snapshot: Snapshot, landing: Workload, facts: InboundTunnelFacts): boolean {
    const peer = snapshot.workloadByAddress(this.#opts.network, canonicalIp(facts.peerAddress) ?? "");
    if (peer === undefined || workloadPrincipal(peer) !== facts.peerUri) return false;
    if (landing.waypoint !== undefined && isWaypoint(snapshot, landing.waypoint, peer)) return true;
    for (const key of Object.keys(landing.services)) {
      const svc = snapshot.service(key);
      if (svc?.waypoint !== undefined && isWaypoint(snapshot, svc.waypoint, peer)) return true;
    }
    return false;
  }

  #checkAuthority(facts: InboundTunnelFacts): Verdict {
    const { ip, workload } = this.#landing(facts.localAddress);
    if (workload === undefined) return { allow: false, reason: `no workload at ${ip}` };
    if (workload.addresses.includes(facts.target.ip)) return { allow: true };
    const snapshot = this.#opts.snapshot();
    if (
      this.#fromOwnWaypoint(snapshot, workload, facts) &&
      this.#serviceTarget(snapshot, workload, facts.target)
    ) {
      return { allow: true };
    }
    return {
      allow: false,
      reason: `:authority ${facts.target.ip}:${facts.target.port} is not this pod (${ip}) and did not come from its waypoint`,
    };
  }

  /** A waypoint's CONNECT to VIP:port of a service this pod backs → the pod's IP and target port. */
  #serviceTarget(snapshot: Snapshot, landing: Workload, target: SocketTarget): SocketTarget | undefined {
    const svc = snapshot.serviceByVip(this.#opts.network, target.ip);
    if (svc === undefined) return undefined;
    const ports = landing.services[serviceKey(svc.namespace, svc.hostname)];
    if (ports === undefined) return undefined;
    const port =
      ports[target.port] || svc.ports.find((p) => p.servicePort === target.port)?.targetPort || target.port;
    const family = ipFamily(target.ip);
    const ip = landing.addresses.find((a) => ipFamily(a) === family) ?? landing.addresses[0];
    return ip === undefined ? undefined : { ip, port };
  }

  #recordOf(facts: InboundTunnelFacts): ConnectionRecord {
    let r = this.#records.get(facts);
    if (r !== undefined) return r;
    const snapshot = this.#opts.snapshot();
    const { workload } = this.#landing(facts.localAddress);
    const peerIp = canonicalIp(facts.peerAddress) ?? facts.peerAddress;
    const peer = snapshot.workloadByAddress(this.#opts.network, peerIp);
    // The client is the peer, unless the peer is a waypoint relaying for someone (Forwarded).
    const viaWaypoint = workload !== undefined && this.#fromOwnWaypoint(snapshot, workload, facts);
    const sourceIp = viaWaypoint && facts.originalSource !== undefined ? facts.originalSource : peerIp;
    r = newRecord("inbound", sourceIp, facts.target.ip, facts.target.port);
    r.security = "mutual_tls";
    r.sourcePrincipal = facts.peerUri;
    const source = viaWaypoint ? snapshot.workloadByAddress(this.#opts.network, sourceIp) : peer;
    if (source !== undefined) r.source = source;
    if (workload !== undefined) {
      r.destinationWorkload = workload;
      r.destinationPrincipal = workloadPrincipal(workload);
    }
    r.via = "app";
    this.#records.set(facts, r);
    return r;
  }

  #authorize(facts: InboundTunnelFacts): Verdict {
    const snapshot = this.#opts.snapshot();
    const { workload } = this.#landing(facts.localAddress);
    if (workload === undefined) return { allow: false, reason: "no destination workload" };
    const record = this.#recordOf(facts);
    const decision = authorizeInbound(snapshot, {
      sourcePrincipal: facts.peerUri,
      sourceIp: record.sourceIp,
      destinationIp: facts.target.ip,
      destinationPort: facts.target.port,
      destinationWorkload: workload,
    });
    this.#opts.observer.onAuthorization?.({
      allow: decision.allow,
      reason: decision.reason,
      plaintext: false,
    });
    return decision.allow ? { allow: true } : { allow: false, reason: describeDecision(decision) };
  }

  async #connectUpstream(target: SocketTarget, facts: InboundTunnelFacts): Promise<net.Socket> {
    const { ip, workload } = this.#landing(facts.localAddress);
    const pod = this.#podByIp.get(ip);
    if (pod === undefined || workload === undefined) throw new Error(`no enrolled pod at ${ip}`);
    const dest = workload.addresses.includes(target.ip)
      ? target
      : (this.#serviceTarget(this.#opts.snapshot(), workload, target) ?? target);
    if (isIP(dest.ip) === 0) throw new Error(`bad target ${dest.ip}`);
    return connectInNetns(this.#dialTo(pod, dest, this.#recordOf(facts).sourceIp));
  }

  #onTunnel(event: InboundTunnelEvent): void {
    if (event.facts === undefined) return; // refused before the request could be read: logged by the server
    const r = this.#recordOf(event.facts);
    if (event.status !== 200) {
      r.responseFlags = event.status === 401 ? "DENY" : event.status === 503 ? "UF" : "BAD";
      if (event.reason !== undefined) r.reason = event.reason;
    } else if (event.result !== undefined) {
      // Inbound: the stream is the client side, the socket the app (server) side.
      r.bytesFromClient = event.result.toSocket;
      r.bytesFromServer = event.result.fromSocket;
      if (event.result.outcome === "stream_reset") r.responseFlags = "DC";
      else if (event.result.outcome === "socket_reset") r.responseFlags = "UC";
    }
    this.#opts.observer.onClose(r);
  }
}
