// The delta xDS server (envoy.service.discovery.v3.AggregatedDiscoveryService/
// DeltaAggregatedResources, DESIGN §6) over the versioned ResourceCache.
//
// Per stream and type URL it keeps what the client subscribed to, what it is believed to hold
// (name → version) and at most one response awaiting ACK. Cache changes are debounced and
// coalesced; a flush offers each client only the changed names, so the per-client cost of a push
// is one version compare per changed name it subscribes to, never a walk over unchanged
// resources. While a response is unacknowledged further changes accumulate for that client and go
// out together after the ACK: slow clients get fewer, larger pushes instead of a queue.
import * as grpc from "@grpc/grpc-js";
import {
  AdsService,
  PreEncoded,
  encodeDeltaResponse,
  grpcStatusName,
  rejectedNames,
  type AdsHandlers,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type Encodable,
} from "@weft/api";
import type { Logger } from "@weft/core";
import type { XdsAccessDecision, XdsDenyReason } from "./auth.js";
import type { XdsAuthorizer } from "./auth-peer.js";
import type { CachedResource, CacheChange, ResourceCache } from "./cache.js";
import { DEFAULT_DEBOUNCE, Debouncer, REAL_TIMERS, type DebounceOptions, type Timers } from "./debounce.js";

/** Marks a resource whose state at the client is unknown (after a NACK without per-name detail). */
const UNKNOWN_VERSION = "";
const WILDCARD = "*";
/**
 * Envoy Node metadata key a waypoint sets to its Gateway (`namespace/name`); it then receives only
 * the weft.v1alpha1 resources meant for it. Clients without it (ztunnels, debug tools) see all.
 */
export const WAYPOINT_METADATA_KEY = "WEFT_WAYPOINT";
/** Default response size limit; the rest of a large push follows after the ACK. */
const DEFAULT_MAX_RESPONSE_BYTES = 1 << 20;
/** Requests a stream may send while its credentials are being checked; more is abuse. */
const MAX_REQUESTS_BEFORE_AUTH = 64;
const GRPC_STATUS_OF: Record<Extract<XdsAccessDecision, { allowed: false }>["status"], grpc.status> = {
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
};

export type XdsServerEvent =
  | { readonly type: "connected"; readonly client: string }
  | {
      readonly type: "denied";
      readonly client: string;
      readonly status: "UNAUTHENTICATED" | "PERMISSION_DENIED" | "UNAVAILABLE";
      readonly reason: XdsDenyReason;
    }
  | { readonly type: "disconnected"; readonly client: string; readonly reason: string }
  | {
      readonly type: "push";
      readonly client: string;
      readonly typeUrl: string;
      readonly nonce: string;
      readonly resources: number;
      readonly removed: number;
      /** ms from the oldest change included being seen to the response being written; absent for initial responses. */
      readonly latencyMs?: number;
    }
  | { readonly type: "ack"; readonly client: string; readonly typeUrl: string; readonly nonce: string }
  | {
      readonly type: "nack";
      readonly client: string;
      readonly typeUrl: string;
      readonly nonce: string;
      readonly detail: string;
      /** The names the client reported as rejected; undefined when it did not say. */
      readonly names: readonly string[] | undefined;
    };

export interface DeltaXdsServerOptions {
  readonly cache: ResourceCache;
  readonly debounce?: DebounceOptions;
  readonly maxResponseBytes?: number;
  readonly logger?: Pick<Logger, "info" | "warn" | "debug" | "error">;
  readonly onEvent?: (event: XdsServerEvent) => void;
  /** Identifies this control plane in responses. */
  readonly controlPlaneId?: string;
  readonly timers?: Timers;
  /**
   * Authenticates and authorizes every stream at its first request (createXdsAuthorizer); a
   * refused stream ends with UNAUTHENTICATED / PERMISSION_DENIED and a message naming the fix.
   * Without it every client is served: in-process tests and benchmarks, and the controller's
   * explicit `--insecure-xds-no-auth`.
   */
  readonly authorize?: XdsAuthorizer;
}

interface InFlight {
  readonly nonce: string;
  /** name → version the client was believed to hold before this response (undefined: nothing). */
  readonly previous: Map<string, string | undefined>;
  /** name → version sent in this response. */
  readonly sent: Map<string, string>;
}

class TypeState {
  wildcard = false;
  readonly names = new Set<string>();
  /** What the client is believed to hold (sent and not NACKed), name → version. */
  readonly held = new Map<string, string>();
  /** Versions the client NACKed; never resent until the resource changes. */
  readonly rejected = new Map<string, string>();
  /** Names to reconsider on the next flush. */
  dirty = new Set<string>();
  /** When the oldest change in `dirty` was seen. */
  dirtySince: number | undefined;
  /** The first response for this type must go out even if empty: it tells the client it is in sync. */
  initialPending = true;
  inFlight: InFlight | undefined;
  responses = 0;
  resourcesSent = 0;
  acks = 0;
  nacks = 0;
  lastNack: string | undefined;

  subscribed(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  markDirty(name: string, seenAt: number | undefined): void {
    this.dirty.add(name);
    if (seenAt !== undefined && (this.dirtySince === undefined || seenAt < this.dirtySince)) {
      this.dirtySince = seenAt;
    }
  }
}

/** A per-client view for /debug/config_dump. */
export interface ClientDump {
  readonly id: string;
  readonly peer: string;
  /** With auth: the SPIFFE identity the client authenticated as. Without: its certificate's claim. */
  readonly identity: string | undefined;
  /** How the identity was established; "none" when the server runs without auth. */
  readonly authenticatedBy: "certificate" | "token" | "none" | "pending";
  /** What the client was admitted as (undefined without auth or while pending). */
  readonly role: "node-agent" | "waypoint" | undefined;
  readonly waypoint: string | undefined;
  readonly connectedAt: string;
  readonly types: Record<
    string,
    {
      readonly wildcard: boolean;
      readonly names: readonly string[];
      readonly held: number;
      readonly rejected: Record<string, string>;
      readonly pendingNonce: string | undefined;
      readonly dirty: number;
      readonly responses: number;
      readonly resourcesSent: number;
      readonly acks: number;
      readonly nacks: number;
      readonly lastNack: string | undefined;
    }
  >;
}

type DeltaCall = grpc.ServerDuplexStream<DeltaDiscoveryRequest, Encodable<DeltaDiscoveryResponse>>;

class ClientStream {
  id: string;
  /** The waypoint this client serves, from its Node metadata. */
  waypoint: string | undefined;
  authenticatedBy: ClientDump["authenticatedBy"] = "none";
  role: ClientDump["role"];
  readonly types = new Map<string, TypeState>();
  readonly connectedAt = new Date();
  /** Whether "connected" was announced (so "disconnected" is announced exactly once after it). */
  announced = false;
  closed = false;
  constructor(
    readonly call: DeltaCall,
    readonly peer: string,
    public identity: string | undefined,
    fallbackId: string,
  ) {
    this.id = fallbackId;
  }
}

/** An encoded response and what decides its bytes besides the nonce. */
interface SharedResponse {
  readonly typeUrl: string;
  readonly batch: readonly CachedResource[];
  readonly removed: readonly string[];
  readonly nonce: string;
  readonly encoded: PreEncoded<DeltaDiscoveryResponse>;
}

/** Clients written per turn of the event loop during a flush (see #flushPending). */
const FLUSH_SLICE = 16;

interface FlushTarget {
  readonly client: ClientStream;
  readonly typeUrl: string;
  readonly state: TypeState;
}

/** Responses of one bucket compared before a new one is encoded; bounds a flush's search. */
const MAX_SHARED_PER_BUCKET = 8;

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The responses built in one flush, for handing the same bytes to every client whose response
 * has the same content. A CachedResource is immutable, one name at one version, so resources
 * compare by identity and no key has to be built per client.
 */
class SharedResponses {
  /** By the response's first resource (else first removed name, else type URL). */
  readonly #buckets = new Map<unknown, SharedResponse[]>();

  find(
    typeUrl: string,
    batch: readonly CachedResource[],
    removed: readonly string[],
  ): SharedResponse | undefined {
    const bucket = this.#buckets.get(batch[0] ?? removed[0] ?? typeUrl);
    if (bucket === undefined) return undefined;
    for (const r of bucket) {
      if (r.typeUrl === typeUrl && sameItems(r.batch, batch) && sameItems(r.removed, removed)) return r;
    }
    return undefined;
  }

  add(response: SharedResponse): void {
    const key = response.batch[0] ?? response.removed[0] ?? response.typeUrl;
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) this.#buckets.set(key, [response]);
    else if (bucket.length < MAX_SHARED_PER_BUCKET) bucket.push(response);
  }
}

export class DeltaXdsServer {
  readonly #cache: ResourceCache;
  readonly #maxResponseBytes: number;
  readonly #logger: DeltaXdsServerOptions["logger"];
  readonly #onEvent: ((event: XdsServerEvent) => void) | undefined;
  readonly #controlPlaneId: string;
  readonly #timers: Timers;
  readonly #authorize: XdsAuthorizer | undefined;
  readonly #clients = new Set<ClientStream>();
  /** Changed names per type since the last flush, and when the oldest was seen. */
  #pending = new Map<string, { names: Set<string>; since: number }>();
  readonly #debouncer: Debouncer;
  readonly #unsubscribe: () => void;
  #nonce = 0;
  #streams = 0;
  #closed = false;

  constructor(opts: DeltaXdsServerOptions) {
    this.#cache = opts.cache;
    this.#maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#logger = opts.logger;
    this.#onEvent = opts.onEvent;
    this.#controlPlaneId = opts.controlPlaneId ?? "weft-controller";
    this.#timers = opts.timers ?? REAL_TIMERS;
    this.#authorize = opts.authorize;
    this.#debouncer = new Debouncer(
      opts.debounce ?? DEFAULT_DEBOUNCE,
      () => this.#flushPending(),
      this.#timers,
    );
    this.#unsubscribe = this.#cache.onChange((c) => this.#onCacheChange(c));
  }

  /** The grpc-js implementation of AggregatedDiscoveryService. */
  get handlers(): AdsHandlers {
    return {
      deltaAggregatedResources: (call) => this.#serve(call),
      streamAggregatedResources: (call) => {
        call.emit("error", {
          code: grpc.status.UNIMPLEMENTED,
          details: "weft serves delta xDS only: use DeltaAggregatedResources",
        });
      },
    };
  }

  /** Registers the ADS service on a grpc-js server. */
  addTo(server: grpc.Server): void {
    server.addService(AdsService, this.handlers);
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Pushes debounced changes now (tests, shutdown). */
  flush(): void {
    this.#debouncer.flush();
  }

  dump(): ClientDump[] {
    return [...this.#clients]
      .map((c) => ({
        id: c.id,
        peer: c.peer,
        identity: c.identity,
        authenticatedBy: c.authenticatedBy,
        role: c.role,
        waypoint: c.waypoint,
        connectedAt: c.connectedAt.toISOString(),
        types: Object.fromEntries(
          [...c.types].map(([typeUrl, t]) => [
            typeUrl,
            {
              wildcard: t.wildcard,
              names: [...t.names].sort(),
              held: t.held.size,
              rejected: Object.fromEntries(t.rejected),
              pendingNonce: t.inFlight?.nonce,
              dirty: t.dirty.size,
              responses: t.responses,
              resourcesSent: t.resourcesSent,
              acks: t.acks,
              nacks: t.nacks,
              lastNack: t.lastNack,
            },
          ]),
        ),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Ends every stream (clients reconnect elsewhere) and stops pushing. */
  close(): void {
    this.#closed = true;
    this.#debouncer.cancel();
    this.#unsubscribe();
    for (const c of [...this.#clients]) {
      this.#drop(c, "server closing");
      try {
        c.call.end();
      } catch {
        /* the stream may already be gone */
      }
    }
  }

  // ---- streams -------------------------------------------------------------------------------

  #serve(call: DeltaCall): void {
    if (this.#closed) {
      call.emit("error", { code: grpc.status.UNAVAILABLE, details: "control plane is shutting down" });
      return;
    }
    const peer = call.getPeer();
    const stream = ++this.#streams;
    const client = new ClientStream(call, peer, peerIdentity(call), `${peer}#${stream}`);
    this.#clients.add(client);
    // With auth, requests wait here until the first one's credentials are checked.
    let held: DeltaDiscoveryRequest[] | undefined = this.#authorize === undefined ? undefined : [];
    let first = true;
    call.on("data", (req: DeltaDiscoveryRequest) => {
      if (client.closed) return;
      if (first) {
        first = false;
        const nodeId = req.node?.id;
        if (nodeId !== undefined && nodeId !== "") client.id = `${nodeId}#${stream}`;
        const waypoint = req.node?.metadata?.[WAYPOINT_METADATA_KEY];
        if (typeof waypoint === "string" && waypoint !== "") client.waypoint = waypoint;
        if (held === undefined) this.#announce(client);
        else {
          client.authenticatedBy = "pending";
          this.#checkAccess(client).then(
            (ok) => {
              if (!ok || held === undefined) return;
              const queued = held;
              held = undefined;
              this.#announce(client);
              for (const r of queued) if (!client.closed) this.#handle(client, r);
            },
            (err: unknown) => this.#fail(client, err),
          );
        }
      }
      if (held !== undefined) {
        if (held.length >= MAX_REQUESTS_BEFORE_AUTH) {
          this.#end(client, grpc.status.RESOURCE_EXHAUSTED, "too many requests before authentication");
          return;
        }
        held.push(req);
        return;
      }
      this.#handle(client, req);
    });
    call.on("end", () => {
      this.#drop(client, "client closed the stream");
      call.end();
    });
    call.on("cancelled", () => this.#drop(client, "cancelled"));
    call.on("error", (err: Error) => this.#drop(client, `stream error: ${err.message}`));
    call.on("close", () => this.#drop(client, "closed"));
  }

  #announce(client: ClientStream): void {
    client.announced = true;
    this.#logger?.info(
      {
        client: client.id,
        peer: client.peer,
        identity: client.identity,
        authenticatedBy: client.authenticatedBy,
        role: client.role,
      },
      "xDS client connected",
    );
    this.#emit({ type: "connected", client: client.id });
  }

  /** Runs the authorizer for a stream; on refusal ends it. Resolves whether it may proceed. */
  async #checkAccess(client: ClientStream): Promise<boolean> {
    const auth = client.call.metadata.get("authorization")[0];
    const decision = await this.#authorize!({
      authorization: auth === undefined ? undefined : auth.toString(),
      peerCertificate: peerCertificateDer(client.call),
      waypoint: client.waypoint,
    });
    if (client.closed) return false;
    if (decision.allowed) {
      client.identity = decision.identity;
      client.authenticatedBy = decision.via;
      client.role = decision.role;
      return true;
    }
    this.#logger?.warn(
      {
        client: client.id,
        peer: client.peer,
        status: decision.status,
        reason: decision.reason,
        detail: decision.message,
      },
      "xDS client refused",
    );
    this.#emit({ type: "denied", client: client.id, status: decision.status, reason: decision.reason });
    this.#end(client, GRPC_STATUS_OF[decision.status], decision.message);
    return false;
  }

  #handle(client: ClientStream, req: DeltaDiscoveryRequest): void {
    try {
      this.#onRequest(client, req);
    } catch (err) {
      this.#fail(client, err);
    }
  }

  /** A bug in handling one stream must not take the process down; the client reconnects. */
  #fail(client: ClientStream, err: unknown): void {
    this.#logger?.error({ err, client: client.id }, "xDS request handling failed; closing stream");
    this.#end(client, grpc.status.INTERNAL, "internal error handling the request");
  }

  #end(client: ClientStream, code: grpc.status, details: string): void {
    if (client.closed) return;
    this.#drop(client, `${grpcStatusName(code)}: ${details}`);
    client.call.emit("error", { code, details });
  }

  #drop(client: ClientStream, reason: string): void {
    if (client.closed) return;
    client.closed = true;
    this.#clients.delete(client);
    if (!client.announced) return;
    this.#logger?.info({ client: client.id, reason }, "xDS client disconnected");
    this.#emit({ type: "disconnected", client: client.id, reason });
  }

  #onRequest(client: ClientStream, req: DeltaDiscoveryRequest): void {
    const typeUrl = req.typeUrl;
    if (typeUrl === "") {
      this.#logger?.warn({ client: client.id }, "xDS request without type_url ignored");
      return;
    }
    let state = client.types.get(typeUrl);
    if (state === undefined) {
      state = this.#subscribeInitial(req);
      client.types.set(typeUrl, state);
    } else {
      if (req.responseNonce !== "") this.#onAckOrNack(client, typeUrl, state, req);
      this.#changeSubscriptions(typeUrl, state, req);
    }
    this.#flushClientType(client, typeUrl, state);
  }

  /** First request for a type on this stream: subscriptions plus what the client already holds. */
  #subscribeInitial(req: DeltaDiscoveryRequest): TypeState {
    const state = new TypeState();
    const subscribe = req.resourceNamesSubscribe;
    // An empty first subscription is Envoy's legacy wildcard; "*" is the explicit one.
    state.wildcard = subscribe.length === 0 || subscribe.includes(WILDCARD);
    for (const n of subscribe) if (n !== WILDCARD) state.names.add(n);
    for (const [name, version] of Object.entries(req.initialResourceVersions)) {
      state.held.set(name, version);
      state.dirty.add(name);
    }
    if (state.wildcard) for (const name of this.#cache.resources(req.typeUrl).keys()) state.dirty.add(name);
    else for (const name of state.names) state.dirty.add(name);
    return state;
  }

  #changeSubscriptions(typeUrl: string, state: TypeState, req: DeltaDiscoveryRequest): void {
    for (const name of req.resourceNamesSubscribe) {
      if (name === WILDCARD) {
        if (!state.wildcard) {
          state.wildcard = true;
          for (const n of this.#cache.resources(typeUrl).keys()) state.dirty.add(n);
        }
      } else if (!state.names.has(name)) {
        state.names.add(name);
        state.dirty.add(name);
      }
    }
    for (const name of req.resourceNamesUnsubscribe) {
      if (name === WILDCARD) {
        state.wildcard = false;
        // The client drops what it only had through the wildcard.
        for (const n of [...state.held.keys()]) if (!state.names.has(n)) this.#forget(state, n);
      } else if (state.names.delete(name) && !state.wildcard) {
        this.#forget(state, name);
      }
    }
  }

  #forget(state: TypeState, name: string): void {
    state.held.delete(name);
    state.rejected.delete(name);
    state.dirty.delete(name);
  }

  #onAckOrNack(client: ClientStream, typeUrl: string, state: TypeState, req: DeltaDiscoveryRequest): void {
    const inFlight = state.inFlight;
    if (inFlight === undefined || inFlight.nonce !== req.responseNonce) {
      // Stale: an answer to a response superseded on this stream. Envoy's protocol says ignore it.
      this.#logger?.debug(
        { client: client.id, typeUrl, nonce: req.responseNonce },
        "stale xDS nonce ignored",
      );
      return;
    }
    state.inFlight = undefined;
    const error = req.errorDetail;
    if (error === undefined) {
      state.acks++;
      for (const name of inFlight.sent.keys()) state.rejected.delete(name);
      this.#emit({ type: "ack", client: client.id, typeUrl, nonce: inFlight.nonce });
      return;
    }
    state.nacks++;
    state.lastNack = error.message;
    const named = rejectedNames(error);
    for (const [name, version] of inFlight.sent) {
      if (named !== undefined && !Object.hasOwn(named, name)) continue;
      // Remember the rejected version so it is not sent again in a loop; resend only on change.
      state.rejected.set(name, version);
      if (named === undefined) {
        state.held.set(name, UNKNOWN_VERSION);
      } else {
        const previous = inFlight.previous.get(name);
        if (previous === undefined) state.held.delete(name);
        else state.held.set(name, previous);
      }
    }
    this.#logger?.warn(
      {
        client: client.id,
        typeUrl,
        nonce: inFlight.nonce,
        detail: error.message,
        rejected: named && Object.keys(named),
      },
      "xDS client NACKed a response",
    );
    this.#emit({
      type: "nack",
      client: client.id,
      typeUrl,
      nonce: inFlight.nonce,
      detail: error.message,
      names: named === undefined ? undefined : Object.keys(named),
    });
  }

  // ---- pushes --------------------------------------------------------------------------------

  #onCacheChange(change: CacheChange): void {
    let p = this.#pending.get(change.typeUrl);
    if (p === undefined) this.#pending.set(change.typeUrl, (p = { names: new Set(), since: change.seenAt }));
    for (const n of change.names) p.names.add(n);
    if (change.seenAt < p.since) p.since = change.seenAt;
    this.#debouncer.trigger();
  }

  #flushPending(): void {
    const pending = this.#pending;
    this.#pending = new Map();
    // Every client learns what is dirty at once; the writes then go out in slices. Node's http2
    // puts a stream's bytes on the socket only in the event loop's next immediate phase, so one
    // synchronous loop over 500 clients kept every byte back until the last response was built
    // (~20 ms), and clients sat idle meanwhile. A later flush that starts before the slices are
    // done only adds to the dirty sets, and a client sends all its dirty names in one
    // rank-ordered response, so slicing never reorders what a client receives.
    const targets: FlushTarget[] = [];
    for (const client of this.#clients) {
      for (const [typeUrl, p] of pending) {
        const state = client.types.get(typeUrl);
        if (state === undefined) continue;
        for (const name of p.names) {
          if (state.subscribed(name) || state.held.has(name)) state.markDirty(name, p.since);
        }
        targets.push({ client, typeUrl, state });
      }
    }
    // Most clients of a push get the same content; it is encoded once and written to each.
    this.#writeSlices(targets, 0, new SharedResponses());
  }

  #writeSlices(targets: readonly FlushTarget[], from: number, shared: SharedResponses): void {
    const end = Math.min(targets.length, from + FLUSH_SLICE);
    for (let i = from; i < end; i++) {
      const t = targets[i]!;
      this.#flushClientType(t.client, t.typeUrl, t.state, shared);
    }
    if (end < targets.length) {
      setImmediate(() => {
        if (!this.#closed) this.#writeSlices(targets, end, shared);
      });
    }
  }

  /**
   * Sends what changed for one client and type, unless a response is still awaiting its ACK.
   * With `shared` (one flush over many clients), a client whose response has the same content as
   * one already built in the flush gets those bytes, nonce included. A nonce only has to be
   * unique on its stream: a flush sends a stream at most one response per type, responses are
   * shared only within a type, and every flush and every unshared response draws fresh nonces
   * from the one counter, so no stream ever sees a nonce twice.
   */
  #flushClientType(client: ClientStream, typeUrl: string, state: TypeState, shared?: SharedResponses): void {
    if (client.closed || state.inFlight !== undefined) return;
    if (state.dirty.size === 0 && !state.initialPending) return;
    const candidates = state.dirty;
    const since = state.dirtySince;
    state.dirty = new Set();
    state.dirtySince = undefined;

    const resources = this.#cache.resources(typeUrl);
    const toSend: CachedResource[] = [];
    const removed: string[] = [];
    for (const name of candidates) {
      let current = resources.get(name);
      if (
        current?.waypoints !== undefined &&
        client.waypoint !== undefined &&
        !current.waypoints.has(client.waypoint)
      ) {
        current = undefined;
      }
      const held = state.held.get(name);
      if (current === undefined || !state.subscribed(name)) {
        if (held !== undefined) removed.push(name);
        continue;
      }
      if (held === current.version || state.rejected.get(name) === current.version) continue;
      toSend.push(current);
    }
    if (toSend.length === 0 && removed.length === 0 && !state.initialPending) return;

    // Workloads before the services that reference them (rank), then by name for stable output.
    toSend.sort((a, b) => a.rank - b.rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let budget = this.#maxResponseBytes;
    let take = 0;
    while (take < toSend.length) {
      const size = toSend[take]!.size;
      if (take > 0 && size > budget) break;
      budget -= size;
      take++;
    }
    // What does not fit waits for the ACK of this response; rank order means the first chunk holds
    // the workloads, so services never arrive before them.
    for (let i = take; i < toSend.length; i++) state.markDirty(toSend[i]!.name, since);
    const batch = take === toSend.length ? toSend : toSend.slice(0, take);

    let response = shared?.find(typeUrl, batch, removed);
    if (response === undefined) {
      response = this.#encode(typeUrl, batch, removed);
      shared?.add(response);
    }
    const nonce = response.nonce;
    const inFlight: InFlight = { nonce, previous: new Map(), sent: new Map() };
    for (const r of batch) {
      inFlight.previous.set(r.name, state.held.get(r.name));
      inFlight.sent.set(r.name, r.version);
      state.held.set(r.name, r.version);
    }
    for (const name of removed) {
      state.held.delete(name);
      state.rejected.delete(name);
    }
    state.inFlight = inFlight;
    state.initialPending = false;
    state.responses++;
    state.resourcesSent += batch.length;

    client.call.write(response.encoded);
    if (this.#onEvent === undefined) return;
    this.#emit({
      type: "push",
      client: client.id,
      typeUrl,
      nonce,
      resources: batch.length,
      removed: removed.length,
      ...(since !== undefined ? { latencyMs: this.#timers.now() - since } : {}),
    });
  }

  /** A response under a fresh nonce (also its system_version_info, as before). */
  #encode(typeUrl: string, batch: readonly CachedResource[], removed: readonly string[]): SharedResponse {
    const nonce = (++this.#nonce).toString(36);
    const bytes = encodeDeltaResponse({
      typeUrl,
      nonce,
      systemVersionInfo: nonce,
      resources: batch.map((r) => r.encoded),
      removedResources: removed,
      controlPlane: this.#controlPlaneId,
    });
    return { typeUrl, batch, removed, nonce, encoded: new PreEncoded(bytes) };
  }

  #emit(event: XdsServerEvent): void {
    if (this.#onEvent === undefined) return;
    try {
      this.#onEvent(event);
    } catch (err) {
      this.#logger?.warn({ err }, "xDS event listener threw");
    }
  }
}

/**
 * The URI SAN of the client's certificate, when it presented one TLS verified. For logs and the
 * config dump of a server without auth; with auth the authorizer's identity replaces it.
 */
function peerIdentity(call: DeltaCall): string | undefined {
  try {
    const cert = call.getAuthContext()?.sslPeerCertificate;
    const san = cert?.subjectaltname;
    if (san === undefined) return undefined;
    const uri = san.split(", ").find((s) => s.startsWith("URI:"));
    return uri?.slice(4);
  } catch {
    return undefined;
  }
}

/** DER of the client's certificate; grpc-js exposes it only when TLS verified the chain. */
function peerCertificateDer(call: DeltaCall): Uint8Array | undefined {
  try {
    return call.getAuthContext()?.sslPeerCertificate?.raw;
  } catch {
    return undefined;
  }
}
