// The delta xDS client (DESIGN §6): one ADS stream to the controller, per-type handlers, per
// resource validation (one bad resource is NACKed, the others apply), ACK/NACK by nonce, and
// `initial_resource_versions` on reconnect so a restarted stream is not sent what it already has.
import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  DELTA_ADS_PATH,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  GrpcHttp2Client,
  GrpcStatus,
  encodeDeltaAck,
  encodeNackDetail,
  grpcStatusName,
  type DeltaDiscoveryResponse,
  type GrpcBidiStream,
  type GrpcHttp2Credentials,
} from "@weft/api";
import { Backoff, type BackoffOptions, type Logger } from "@weft/core";
import type { DecodedResource, ResourceRejection, XdsTypeHandler } from "./handlers.js";

/** Struct field of the NACK detail naming rejected resources; the convention lives in @weft/api. */
export { NACK_REJECTED_FIELD } from "@weft/api";
/** How many rejections the human-readable NACK message lists before "and N more". */
const NACK_MESSAGE_LIMIT = 5;

export type XdsCredentials =
  | { readonly kind: "insecure" }
  | {
      readonly kind: "tls";
      /** PEM trust bundle the controller's serving certificate must chain to. */
      readonly ca: string | Buffer;
      /**
       * Client certificate chain (leaf first) and key (PEM), when the client has an identity. The
       * controller accepts a certificate from its CA instead of a token.
       */
      readonly cert?: string | Buffer;
      readonly key?: string | Buffer;
      /** Name to verify in the server certificate; default `weft-controller.weft-system.svc`. */
      readonly serverName?: string;
    };

export const DEFAULT_CONTROLLER_NAME = "weft-controller.weft-system.svc";

export interface DeltaXdsClientOptions {
  /** `host:port` of the controller's xDS endpoint. */
  readonly address: string;
  readonly credentials: XdsCredentials;
  /**
   * Bearer token sent as `authorization: Bearer <token>` on every stream (the controller verifies
   * it like the CA does). Prefer `tokenFile` for tokens that rotate.
   */
  readonly token?: string;
  /**
   * File holding the bearer token, re-read on every (re)connect, like a projected service
   * account token that the kubelet rotates. If it cannot be read the attempt is retried with
   * backoff.
   */
  readonly tokenFile?: string;
  /** envoy Node: `id` names this client in the controller's logs and config dump. */
  readonly node: {
    readonly id: string;
    readonly cluster?: string;
    /** Node metadata, e.g. `{ WEFT_WAYPOINT: "<namespace>/<gateway>" }` for a waypoint. */
    readonly metadata?: Readonly<Record<string, string>>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- handlers of different resource types
  readonly handlers: readonly XdsTypeHandler<any>[];
  readonly backoff?: BackoffOptions;
  readonly logger?: Pick<Logger, "info" | "warn" | "debug">;
  /**
   * Versions already held, by type URL then name (e.g. from a previous client over the same
   * store): sent as initial_resource_versions so the controller sends only what differs.
   */
  readonly resume?: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Largest response accepted; default 64 MiB (a response is cut to the server's size budget). */
  readonly maxReceiveMessageBytes?: number;
}

export interface XdsClientEvents {
  connected: [];
  disconnected: [{ readonly reason: string }];
  /** A response arrived (before it is applied). */
  response: [
    {
      readonly typeUrl: string;
      readonly nonce: string;
      readonly resources: number;
      readonly removed: number;
    },
  ];
  applied: [
    {
      readonly typeUrl: string;
      readonly nonce: string;
      readonly upserted: readonly string[];
      readonly removed: readonly string[];
    },
  ];
  nacked: [
    { readonly typeUrl: string; readonly nonce: string; readonly rejected: readonly ResourceRejection[] },
  ];
}

export interface XdsClientStats {
  responses: number;
  resourcesReceived: number;
  removalsReceived: number;
  acks: number;
  nacks: number;
  connects: number;
}

interface TypeSlot {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see DeltaXdsClientOptions.handlers
  readonly handler: XdsTypeHandler<any>;
  /** Versions applied, for initial_resource_versions on reconnect. */
  readonly versions: Map<string, string>;
  names: Set<string> | "*";
}

function transportCredentials(c: XdsCredentials): GrpcHttp2Credentials {
  if (c.kind === "insecure") return { kind: "insecure" };
  // One SecureContext per identity (DESIGN §12), TLS 1.3 only (DESIGN §5).
  const secureContext = createSecureContext({
    ca: c.ca,
    ...(c.cert !== undefined ? { cert: c.cert } : {}),
    ...(c.key !== undefined ? { key: c.key } : {}),
    minVersion: "TLSv1.3",
  });
  return { kind: "tls", secureContext, serverName: c.serverName ?? DEFAULT_CONTROLLER_NAME };
}

export class DeltaXdsClient extends EventEmitter<XdsClientEvents> {
  readonly stats: XdsClientStats = {
    responses: 0,
    resourcesReceived: 0,
    removalsReceived: 0,
    acks: 0,
    nacks: 0,
    connects: 0,
  };
  readonly #opts: DeltaXdsClientOptions;
  readonly #slots = new Map<string, TypeSlot>();
  // The ADS stream rides the lean transport, not grpc-js: see api/src/grpc-http2.ts for why.
  readonly #client: GrpcHttp2Client;
  readonly #backoff: Backoff;
  #call: GrpcBidiStream | undefined;
  #timer: NodeJS.Timeout | undefined;
  #connected = false;
  #closed = false;
  #reconnectNow = false;
  /** A (re)connect is reading the token file. */
  #opening = false;

  constructor(opts: DeltaXdsClientOptions) {
    super();
    this.#opts = opts;
    for (const h of opts.handlers) {
      const names = h.names === undefined || h.names === "*" ? "*" : new Set(h.names);
      this.#slots.set(h.typeUrl, { handler: h, versions: new Map(opts.resume?.get(h.typeUrl)), names });
    }
    this.#client = new GrpcHttp2Client({
      address: opts.address,
      credentials: transportCredentials(opts.credentials),
      maxReceiveMessageBytes: opts.maxReceiveMessageBytes ?? 64 << 20,
      keepalive: { intervalMs: 30_000, timeoutMs: 10_000 },
      userAgent: "weft-xds-client",
    });
    this.#backoff = new Backoff(opts.backoff ?? { baseMs: 200, maxMs: 15_000, jitter: "full" });
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Versions this client holds for a type (what it would send as initial_resource_versions). */
  versions(typeUrl: string): ReadonlyMap<string, string> {
    return this.#slots.get(typeUrl)?.versions ?? new Map();
  }

  /** Opens the stream; reconnects with jittered backoff until close(). */
  start(): void {
    if (this.#closed || this.#call !== undefined || this.#opening || this.#timer !== undefined) return;
    this.#connect();
  }

  /** Drops the current stream and opens a new one at once (e.g. to move to another controller). */
  restartStream(): void {
    if (this.#closed || this.#call === undefined) return;
    this.#reconnectNow = true;
    this.#call.cancel();
  }

  /** Adds names to a named subscription. */
  subscribe(typeUrl: string, names: readonly string[]): void {
    const slot = this.#slot(typeUrl);
    if (slot.names === "*") return;
    const added = names.filter((n) => !(slot.names as Set<string>).has(n));
    for (const n of added) slot.names.add(n);
    if (added.length > 0) this.#send({ typeUrl, resourceNamesSubscribe: added });
  }

  unsubscribe(typeUrl: string, names: readonly string[]): void {
    const slot = this.#slot(typeUrl);
    if (slot.names === "*") return;
    const removed = names.filter((n) => (slot.names as Set<string>).delete(n));
    if (removed.length === 0) return;
    // The client stops holding them; tell the handler so its state matches.
    slot.handler.apply([], removed);
    for (const n of removed) slot.versions.delete(n);
    this.#send({ typeUrl, resourceNamesUnsubscribe: removed });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const call = this.#call;
    this.#call = undefined;
    call?.cancel();
    this.#client.close();
    if (this.#connected) {
      this.#connected = false;
      this.emit("disconnected", { reason: "closed" });
    }
    await Promise.resolve();
  }

  #slot(typeUrl: string): TypeSlot {
    const slot = this.#slots.get(typeUrl);
    if (slot === undefined) throw new Error(`no handler for xDS type ${typeUrl}`);
    return slot;
  }

  #send(init: MessageInitShape<typeof DeltaDiscoveryRequestSchema>): void {
    this.#call?.write(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, init)));
  }

  #retryIn(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#connect();
    }, delayMs);
  }

  /** Gathers this attempt's credentials (the token file may have rotated), then opens the stream. */
  #connect(): void {
    const file = this.#opts.tokenFile;
    if (file === undefined) {
      this.#open(this.#opts.token);
      return;
    }
    this.#opening = true;
    readFile(file, "utf8").then(
      (text) => {
        this.#opening = false;
        if (!this.#closed) this.#open(text.trim());
      },
      (err: unknown) => {
        this.#opening = false;
        if (this.#closed) return;
        const delay = this.#backoff.next();
        this.#opts.logger?.warn(
          { tokenFile: file, err: (err as Error).message, retryInMs: delay },
          "cannot read the xDS token file; retrying — check the projected service account token volume",
        );
        this.#retryIn(delay);
      },
    );
  }

  #open(token: string | undefined): void {
    const metadata: Record<string, string> =
      token !== undefined && token !== "" ? { authorization: `Bearer ${token}` } : {};
    let first = true;
    let ended = false;
    const onEnd = (reason: string): void => {
      if (ended) return;
      ended = true;
      if (this.#call === call) this.#call = undefined;
      const wasConnected = this.#connected;
      this.#connected = false;
      if (wasConnected) this.emit("disconnected", { reason });
      if (this.#closed) return;
      const delay = this.#reconnectNow ? 0 : this.#backoff.next();
      this.#reconnectNow = false;
      this.#opts.logger?.info({ reason, retryInMs: delay }, "xDS stream ended; reconnecting");
      this.#retryIn(delay);
    };
    const call: GrpcBidiStream = this.#client.openBidi(DELTA_ADS_PATH, metadata, {
      onMessage: (bytes) => {
        // A message still in flight when the stream ended or the client closed is not applied.
        if (ended || this.#closed) return;
        let res: DeltaDiscoveryResponse;
        try {
          res = fromBinary(DeltaDiscoveryResponseSchema, bytes);
        } catch (err) {
          // Not one bad resource but an undecodable response: nothing in it can be trusted.
          this.#opts.logger?.warn({ err: (err as Error).message }, "undecodable xDS response; reconnecting");
          call.cancel();
          onEnd(
            `${grpcStatusName(GrpcStatus.INTERNAL)}: cannot decode a DeltaDiscoveryResponse: ${(err as Error).message}`,
          );
          return;
        }
        if (first) {
          first = false;
          this.#backoff.reset();
        }
        this.#onResponse(res);
      },
      onEnd: (s) =>
        onEnd(
          s.code === (GrpcStatus.OK as number)
            ? "server ended the stream"
            : `${grpcStatusName(s.code)}: ${s.details}`,
        ),
    });
    this.#call = call;

    // One initial request per type, carrying what this client already holds.
    let node = true;
    for (const [typeUrl, slot] of this.#slots) {
      this.#send({
        typeUrl,
        ...(node
          ? {
              node: {
                id: this.#opts.node.id,
                cluster: this.#opts.node.cluster ?? "",
                ...(this.#opts.node.metadata !== undefined
                  ? { metadata: { ...this.#opts.node.metadata } }
                  : {}),
              },
            }
          : {}),
        resourceNamesSubscribe: slot.names === "*" ? [] : [...slot.names],
        initialResourceVersions: Object.fromEntries(slot.versions),
      });
      node = false;
    }
    this.stats.connects++;
    this.#connected = true;
    this.emit("connected");
  }

  #onResponse(res: DeltaDiscoveryResponse): void {
    const slot = this.#slots.get(res.typeUrl);
    this.stats.responses++;
    this.stats.resourcesReceived += res.resources.length;
    this.stats.removalsReceived += res.removedResources.length;
    // Runs for every push on every ztunnel: no event object unless someone listens.
    if (this.listenerCount("response") > 0) {
      this.emit("response", {
        typeUrl: res.typeUrl,
        nonce: res.nonce,
        resources: res.resources.length,
        removed: res.removedResources.length,
      });
    }
    if (slot === undefined) {
      this.#nack(res.typeUrl, res.nonce, [
        { name: "*", reason: `this client did not subscribe to ${res.typeUrl}` },
      ]);
      return;
    }
    // Phase one: decode each resource on its own; a bad one is rejected, the rest continue.
    const rejected: ResourceRejection[] = [];
    const upserts: DecodedResource<unknown>[] = [];
    for (const r of res.resources) {
      try {
        if (r.resource === undefined) throw new Error("resource has no body");
        upserts.push({ name: r.name, version: r.version, value: slot.handler.decode(r.name, r.resource) });
      } catch (err) {
        rejected.push({ name: r.name, reason: (err as Error).message });
      }
    }
    // Phase two: one atomic apply of everything valid.
    let applyRejected: readonly ResourceRejection[];
    try {
      applyRejected = slot.handler.apply(upserts, res.removedResources);
    } catch (err) {
      // A handler failure rejects the whole response: nothing of it is recorded as held.
      applyRejected = upserts.map((u) => ({
        name: u.name,
        reason: `apply failed: ${(err as Error).message}`,
      }));
    }
    rejected.push(...applyRejected);
    const bad = applyRejected.length === 0 ? undefined : new Set(applyRejected.map((r) => r.name));
    const upserted: string[] = [];
    for (const u of upserts) {
      if (bad?.has(u.name) === true) continue;
      slot.versions.set(u.name, u.version);
      upserted.push(u.name);
    }
    for (const name of res.removedResources) slot.versions.delete(name);
    if ((upserted.length > 0 || res.removedResources.length > 0) && this.listenerCount("applied") > 0) {
      this.emit("applied", {
        typeUrl: res.typeUrl,
        nonce: res.nonce,
        upserted,
        removed: res.removedResources,
      });
    }
    if (rejected.length === 0) {
      this.stats.acks++;
      // Hand-encoded: the ACK is two strings, and create() + toBinary() cost more than the write.
      this.#call?.write(encodeDeltaAck(res.typeUrl, res.nonce));
    } else {
      this.#nack(res.typeUrl, res.nonce, rejected);
    }
  }

  #nack(typeUrl: string, nonce: string, rejected: readonly ResourceRejection[]): void {
    this.stats.nacks++;
    const listed = rejected
      .slice(0, NACK_MESSAGE_LIMIT)
      .map((r) => `${r.name}: ${r.reason}`)
      .join("; ");
    const more =
      rejected.length > NACK_MESSAGE_LIMIT ? `; and ${rejected.length - NACK_MESSAGE_LIMIT} more` : "";
    const message = `rejected ${rejected.length} resource(s), the others were applied: ${listed}${more}`;
    this.#opts.logger?.warn({ typeUrl, nonce, rejected }, "NACKing xDS response");
    this.#send({
      typeUrl,
      responseNonce: nonce,
      errorDetail: encodeNackDetail(Object.fromEntries(rejected.map((r) => [r.name, r.reason])), message),
    });
    this.emit("nacked", { typeUrl, nonce, rejected });
  }
}
