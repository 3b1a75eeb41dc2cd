// The data plane's view of the mesh: immutable snapshots with the indexes routing and authorization
// need. A push is applied in two phases — validate every resource on its own, then build one new
// snapshot — so readers holding the old snapshot never see a half-applied push, and one bad resource
// is reported (for a NACK) without holding back the rest.
import type { WeftError } from "@weft/core";
import { invalidResource } from "./errors.js";
import { networkAddressKey } from "./ip.js";
import type { CompiledAuthorization } from "./rbac.js";
import type {
  PeerAuthentication,
  PortMap,
  Resource,
  ResourceKind,
  ResourceRef,
  Service,
  Workload,
} from "./types.js";
import { serviceKey, validateResource, type Validated } from "./validate.js";

/** A workload serving a service, with the ports it serves it on (from `workload.services`). */
export interface Endpoint {
  readonly workload: Workload;
  readonly ports: PortMap;
}

export interface StoreOptions {
  /**
   * Namespace whose NAMESPACE-scoped policies apply mesh-wide (Istio's root namespace). Policies
   * with scope GLOBAL are mesh-wide wherever they live.
   */
  readonly rootNamespace: string;
}

export const DEFAULT_STORE_OPTIONS: StoreOptions = { rootNamespace: "weft-system" };

export interface Delta {
  readonly upsert?: readonly Resource[];
  readonly remove?: readonly ResourceRef[];
}

export interface ApplyError {
  /** The resource name to NACK (workload uid, `namespace/hostname`, `namespace/name`). */
  readonly name: string;
  readonly error: WeftError;
}

export interface ApplyResult {
  readonly snapshot: Snapshot;
  readonly errors: readonly ApplyError[];
}

const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);
const NO_KEYS: readonly string[] = Object.freeze([]);

interface SnapshotData {
  readonly version: number;
  readonly options: StoreOptions;
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly workloadsByAddress: ReadonlyMap<string, Workload>;
  readonly services: ReadonlyMap<string, Service>;
  readonly servicesByVip: ReadonlyMap<string, Service>;
  readonly endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  readonly authorizations: ReadonlyMap<string, CompiledAuthorization>;
  readonly authorizationsByNamespace: ReadonlyMap<string, readonly string[]>;
  readonly globalAuthorizations: readonly string[];
  readonly peerAuthentications: ReadonlyMap<string, PeerAuthentication>;
  readonly peerAuthenticationsByNamespace: ReadonlyMap<string, readonly string[]>;
  readonly meshPeerAuthentications: readonly string[];
}

/**
 * One immutable version of the store. Lookups by address take canonical IP text (see `canonicalIp`);
 * the decisions canonicalize connection facts once before looking up.
 */
export class Snapshot {
  readonly version: number;
  readonly options: StoreOptions;
  /** Workloads by uid. */
  readonly workloads: ReadonlyMap<string, Workload>;
  /** Services by `namespace/hostname`. */
  readonly services: ReadonlyMap<string, Service>;
  /** Compiled authorization policies by `namespace/name`. */
  readonly authorizations: ReadonlyMap<string, CompiledAuthorization>;
  /** PeerAuthentications by `namespace/name`. */
  readonly peerAuthentications: ReadonlyMap<string, PeerAuthentication>;
  /** Keys of the authorization policies that apply to every workload, sorted. */
  readonly globalAuthorizations: readonly string[];
  /** Keys of the mesh-wide PeerAuthentications, sorted. */
  readonly meshPeerAuthentications: readonly string[];
  /** @internal */
  readonly data: SnapshotData;

  /** @internal use `emptySnapshot` and `applyDelta` */
  constructor(data: SnapshotData) {
    this.data = data;
    this.version = data.version;
    this.options = data.options;
    this.workloads = data.workloads;
    this.services = data.services;
    this.authorizations = data.authorizations;
    this.peerAuthentications = data.peerAuthentications;
    this.globalAuthorizations = data.globalAuthorizations;
    this.meshPeerAuthentications = data.meshPeerAuthentications;
    Object.freeze(this);
  }

  workload(uid: string): Workload | undefined {
    return this.data.workloads.get(uid);
  }

  workloadByAddress(network: string, ip: string): Workload | undefined {
    return this.data.workloadsByAddress.get(networkAddressKey(network, ip));
  }

  service(key: string): Service | undefined {
    return this.data.services.get(key);
  }

  serviceByHostname(namespace: string, hostname: string): Service | undefined {
    return this.data.services.get(serviceKey(namespace, hostname));
  }

  serviceByVip(network: string, ip: string): Service | undefined {
    return this.data.servicesByVip.get(networkAddressKey(network, ip));
  }

  /** Every workload that lists the service, sorted by uid (health is not filtered here). */
  endpoints(serviceKeyValue: string): readonly Endpoint[] {
    return this.data.endpoints.get(serviceKeyValue) ?? NO_ENDPOINTS;
  }

  authorization(key: string): CompiledAuthorization | undefined {
    return this.data.authorizations.get(key);
  }

  /** Keys of NAMESPACE-scoped policies of `namespace` (not the root namespace's: those are global), sorted. */
  namespaceAuthorizations(namespace: string): readonly string[] {
    return this.data.authorizationsByNamespace.get(namespace) ?? NO_KEYS;
  }

  peerAuthentication(key: string): PeerAuthentication | undefined {
    return this.data.peerAuthentications.get(key);
  }

  /** Keys of NAMESPACE-scoped PeerAuthentications of `namespace`, sorted. */
  namespacePeerAuthentications(namespace: string): readonly string[] {
    return this.data.peerAuthenticationsByNamespace.get(namespace) ?? NO_KEYS;
  }

  /** Address index size (for metrics / admin dumps). */
  get addressCount(): number {
    return this.data.workloadsByAddress.size + this.data.servicesByVip.size;
  }
}

export function emptySnapshot(options: Partial<StoreOptions> = {}): Snapshot {
  return new Snapshot({
    version: 0,
    options: { ...DEFAULT_STORE_OPTIONS, ...options },
    workloads: ShardedMap.empty(),
    workloadsByAddress: ShardedMap.empty(),
    services: ShardedMap.empty(),
    servicesByVip: ShardedMap.empty(),
    endpoints: ShardedMap.empty(),
    authorizations: ShardedMap.empty(),
    authorizationsByNamespace: ShardedMap.empty(),
    globalAuthorizations: NO_KEYS,
    peerAuthentications: ShardedMap.empty(),
    peerAuthenticationsByNamespace: ShardedMap.empty(),
    meshPeerAuthentications: NO_KEYS,
  });
}

const SHARD_COUNT = 64;

/** FNV-1a of the key, to pick its shard. */
function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) & (SHARD_COUNT - 1);
}

/**
 * A read-only map made of 64 native Maps (shards) by key hash. Snapshots are immutable versions:
 * a new version copies only the shards it changes and shares the rest, so one workload change on
 * a 10k-workload snapshot copies ~160 entries instead of 10k (every ztunnel applies every change;
 * whole-map copies made that O(mesh size) per change). Lookups stay native Map lookups after a
 * short hash. Iteration goes shard by shard: its order is not insertion order.
 */
export class ShardedMap<V> implements ReadonlyMap<string, V> {
  constructor(
    /** @internal */ readonly shards: readonly ReadonlyMap<string, V>[],
    readonly size: number,
  ) {}

  static empty<V>(): ShardedMap<V> {
    return new ShardedMap<V>(
      Array.from({ length: SHARD_COUNT }, () => new Map<string, V>()),
      0,
    );
  }

  get(key: string): V | undefined {
    return this.shards[shardOf(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardOf(key)]!.has(key);
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const shard of this.shards) for (const [k, v] of shard) callback.call(thisArg, v, k, this);
  }

  *entries(): MapIterator<[string, V]> {
    for (const shard of this.shards) yield* shard.entries();
  }

  *keys(): MapIterator<string> {
    for (const shard of this.shards) yield* shard.keys();
  }

  *values(): MapIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}

/** A ShardedMap being edited: shards are copied on their first write. */
class CowMap<V> {
  private readonly shards: ReadonlyMap<string, V>[];
  private readonly owned = new Set<number>();
  private size: number;
  /** The version this edit started from, handed back untouched when nothing was written. */
  private base: ReadonlyMap<string, V> | undefined;
  constructor(base: ReadonlyMap<string, V>) {
    this.base = base instanceof ShardedMap ? base : undefined;
    if (base instanceof ShardedMap) {
      this.shards = [...(base as ShardedMap<V>).shards];
      this.size = base.size;
    } else {
      const fresh = ShardedMap.empty<V>();
      this.shards = [...fresh.shards];
      this.size = 0;
      for (const [k, v] of base) this.set(k, v);
    }
  }
  get(k: string): V | undefined {
    return this.shards[shardOf(k)]!.get(k);
  }
  private writable(k: string): Map<string, V> {
    const i = shardOf(k);
    this.base = undefined;
    if (!this.owned.has(i)) {
      this.shards[i] = new Map(this.shards[i]);
      this.owned.add(i);
    }
    return this.shards[i] as Map<string, V>;
  }
  set(k: string, v: V): void {
    const shard = this.writable(k);
    if (!shard.has(k)) this.size++;
    shard.set(k, v);
  }
  delete(k: string): void {
    if (!this.shards[shardOf(k)]!.has(k)) return;
    this.writable(k).delete(k);
    this.size--;
  }
  /** Delete only if the entry is still `v` (another resource may have claimed the key since). */
  deleteIf(k: string, v: V): void {
    if (this.get(k) === v) this.delete(k);
  }
  /** The edited version; later edits copy their shards again, so it never changes afterwards. */
  result(): ReadonlyMap<string, V> {
    if (this.base !== undefined) return this.base;
    this.owned.clear();
    this.base = new ShardedMap([...this.shards], this.size);
    return this.base;
  }
}

type PolicyIndexEntry = { readonly namespace: string; readonly global: boolean };

/** Per-namespace sorted key lists plus a global list, edited by difference. */
class KeyIndex {
  private readonly byNamespace: CowMap<readonly string[]>;
  private global: readonly string[];
  private readonly adds = new Map<string, Set<string>>();
  private readonly removes = new Map<string, Set<string>>();
  private static readonly GLOBAL = "\u0000global";

  constructor(byNamespace: ReadonlyMap<string, readonly string[]>, global: readonly string[]) {
    this.byNamespace = new CowMap(byNamespace);
    this.global = global;
  }

  private bucket(e: PolicyIndexEntry): string {
    return e.global ? KeyIndex.GLOBAL : e.namespace;
  }

  remove(key: string, e: PolicyIndexEntry): void {
    const b = this.bucket(e);
    this.adds.get(b)?.delete(key);
    let s = this.removes.get(b);
    if (s === undefined) this.removes.set(b, (s = new Set<string>()));
    s.add(key);
  }

  add(key: string, e: PolicyIndexEntry): void {
    const b = this.bucket(e);
    this.removes.get(b)?.delete(key);
    let s = this.adds.get(b);
    if (s === undefined) this.adds.set(b, (s = new Set<string>()));
    s.add(key);
  }

  result(): { byNamespace: ReadonlyMap<string, readonly string[]>; global: readonly string[] } {
    const buckets = new Set([...this.adds.keys(), ...this.removes.keys()]);
    for (const b of buckets) {
      const old = b === KeyIndex.GLOBAL ? this.global : (this.byNamespace.get(b) ?? NO_KEYS);
      const removed = this.removes.get(b);
      const added = this.adds.get(b);
      const next = new Set(old);
      if (removed !== undefined) for (const k of removed) next.delete(k);
      if (added !== undefined) for (const k of added) next.add(k);
      const list = Object.freeze([...next].sort());
      if (b === KeyIndex.GLOBAL) this.global = list;
      else if (list.length === 0) this.byNamespace.delete(b);
      else this.byNamespace.set(b, list);
    }
    return { byNamespace: this.byNamespace.result(), global: this.global };
  }
}

function byUid(a: Endpoint, b: Endpoint): number {
  return a.workload.uid < b.workload.uid ? -1 : a.workload.uid > b.workload.uid ? 1 : 0;
}

/** Builds the next snapshot from the previous one plus validated changes. */
class SnapshotBuilder {
  private readonly workloads: CowMap<Workload>;
  private readonly workloadsByAddress: CowMap<Workload>;
  private readonly services: CowMap<Service>;
  private readonly servicesByVip: CowMap<Service>;
  private readonly authorizations: CowMap<CompiledAuthorization>;
  private readonly peerAuthentications: CowMap<PeerAuthentication>;
  private readonly authorizationIndex: KeyIndex;
  private readonly peerAuthenticationIndex: KeyIndex;
  /** service key → (uid → endpoint, or null when removed) */
  private readonly endpointChanges = new Map<string, Map<string, Endpoint | null>>();
  changed = false;

  constructor(private readonly prev: Snapshot) {
    const d = prev.data;
    this.workloads = new CowMap(d.workloads);
    this.workloadsByAddress = new CowMap(d.workloadsByAddress);
    this.services = new CowMap(d.services);
    this.servicesByVip = new CowMap(d.servicesByVip);
    this.authorizations = new CowMap(d.authorizations);
    this.peerAuthentications = new CowMap(d.peerAuthentications);
    this.authorizationIndex = new KeyIndex(d.authorizationsByNamespace, d.globalAuthorizations);
    this.peerAuthenticationIndex = new KeyIndex(d.peerAuthenticationsByNamespace, d.meshPeerAuthentications);
  }

  private endpointChange(svc: string, uid: string, ep: Endpoint | null): void {
    let m = this.endpointChanges.get(svc);
    if (m === undefined) this.endpointChanges.set(svc, (m = new Map<string, Endpoint | null>()));
    m.set(uid, ep);
  }

  remove(kind: ResourceKind, key: string): void {
    switch (kind) {
      case "workload": {
        const old = this.workloads.get(key);
        if (old === undefined) return;
        this.workloads.delete(key);
        for (const a of old.addresses)
          this.workloadsByAddress.deleteIf(networkAddressKey(old.network, a), old);
        for (const svc of Object.keys(old.services)) this.endpointChange(svc, key, null);
        break;
      }
      case "service": {
        const old = this.services.get(key);
        if (old === undefined) return;
        this.services.delete(key);
        for (const v of old.vips) this.servicesByVip.deleteIf(networkAddressKey(v.network, v.address), old);
        break;
      }
      case "authorization": {
        const old = this.authorizations.get(key);
        if (old === undefined) return;
        this.authorizations.delete(key);
        const entry = this.authorizationEntry(old);
        if (entry !== undefined) this.authorizationIndex.remove(key, entry);
        break;
      }
      case "peerAuthentication": {
        const old = this.peerAuthentications.get(key);
        if (old === undefined) return;
        this.peerAuthentications.delete(key);
        const entry = this.peerAuthenticationEntry(old);
        if (entry !== undefined) this.peerAuthenticationIndex.remove(key, entry);
        break;
      }
    }
    this.changed = true;
  }

  private authorizationEntry(a: CompiledAuthorization): PolicyIndexEntry | undefined {
    const p = a.policy;
    if (p.scope === "WORKLOAD_SELECTOR") return undefined;
    return {
      namespace: p.namespace,
      global: p.scope === "GLOBAL" || p.namespace === this.prev.options.rootNamespace,
    };
  }

  private peerAuthenticationEntry(p: PeerAuthentication): PolicyIndexEntry | undefined {
    if (p.scope === "WORKLOAD_SELECTOR") return undefined;
    return {
      namespace: p.namespace,
      global: p.scope === "MESH" || p.namespace === this.prev.options.rootNamespace,
    };
  }

  upsert(v: Validated): void {
    switch (v.kind) {
      case "workload": {
        this.remove("workload", v.key);
        const w = v.workload;
        this.workloads.set(v.key, w);
        for (const a of w.addresses) this.workloadsByAddress.set(networkAddressKey(w.network, a), w);
        for (const [svc, ports] of Object.entries(w.services))
          this.endpointChange(svc, v.key, { workload: w, ports });
        break;
      }
      case "service": {
        this.remove("service", v.key);
        const s = v.service;
        this.services.set(v.key, s);
        for (const vip of s.vips) this.servicesByVip.set(networkAddressKey(vip.network, vip.address), s);
        break;
      }
      case "authorization": {
        this.remove("authorization", v.key);
        this.authorizations.set(v.key, v.authorization);
        const entry = this.authorizationEntry(v.authorization);
        if (entry !== undefined) this.authorizationIndex.add(v.key, entry);
        break;
      }
      case "peerAuthentication": {
        this.remove("peerAuthentication", v.key);
        this.peerAuthentications.set(v.key, v.peerAuthentication);
        const entry = this.peerAuthenticationEntry(v.peerAuthentication);
        if (entry !== undefined) this.peerAuthenticationIndex.add(v.key, entry);
        break;
      }
    }
    this.changed = true;
  }

  private buildEndpoints(): ReadonlyMap<string, readonly Endpoint[]> {
    const endpoints = new CowMap(this.prev.data.endpoints);
    for (const [svc, changes] of this.endpointChanges) {
      const next: Endpoint[] = [];
      for (const ep of endpoints.get(svc) ?? NO_ENDPOINTS) {
        if (!changes.has(ep.workload.uid)) next.push(ep);
      }
      for (const ep of changes.values()) if (ep !== null) next.push(ep);
      if (next.length === 0) endpoints.delete(svc);
      else endpoints.set(svc, Object.freeze(next.sort(byUid)));
    }
    return endpoints.result();
  }

  build(): Snapshot {
    const authz = this.authorizationIndex.result();
    const pa = this.peerAuthenticationIndex.result();
    return new Snapshot({
      version: this.prev.version + 1,
      options: this.prev.options,
      workloads: this.workloads.result(),
      workloadsByAddress: this.workloadsByAddress.result(),
      services: this.services.result(),
      servicesByVip: this.servicesByVip.result(),
      endpoints: this.buildEndpoints(),
      authorizations: this.authorizations.result(),
      authorizationsByNamespace: authz.byNamespace,
      globalAuthorizations: authz.global,
      peerAuthentications: this.peerAuthentications.result(),
      peerAuthenticationsByNamespace: pa.byNamespace,
      meshPeerAuthentications: pa.global,
    });
  }
}

const ALL_KINDS: readonly ResourceKind[] = ["workload", "service", "authorization", "peerAuthentication"];

/**
 * Apply one push. Phase one validates every upsert independently (each failure becomes an
 * ApplyError naming the resource); phase two builds a single new snapshot from the valid ones.
 * Removals are applied before upserts, so a key both removed and upserted ends up upserted. A plain
 * string removal removes that key from every kind; removing an unknown key is not an error. When
 * nothing valid changes, the same snapshot is returned.
 */
export function applyDelta(snapshot: Snapshot, delta: Delta): ApplyResult {
  const errors: ApplyError[] = [];
  const valid: Validated[] = [];
  for (const r of delta.upsert ?? []) {
    const v = validateResource(r);
    if (v.kind === "invalid") {
      const kind = typeof r === "object" && r !== null && typeof r.kind === "string" ? r.kind : "resource";
      errors.push({ name: v.key, error: invalidResource(kind, v.key, v.cause) });
    } else {
      valid.push(v);
    }
  }
  const builder = new SnapshotBuilder(snapshot);
  for (const ref of delta.remove ?? []) {
    if (typeof ref === "string") {
      for (const kind of ALL_KINDS) builder.remove(kind, ref);
    } else {
      builder.remove(ref.kind, ref.key);
    }
  }
  for (const v of valid) builder.upsert(v);
  return { snapshot: builder.changed ? builder.build() : snapshot, errors };
}

export type SnapshotListener = (next: Snapshot, previous: Snapshot) => void;

/**
 * Holds the current snapshot for a process. Readers take `current` once per connection and keep
 * using that object; `swap` replaces it atomically (single-threaded JS: one assignment) and then
 * tells listeners.
 */
export class StateStore {
  private snapshot: Snapshot;
  private readonly listeners = new Set<SnapshotListener>();

  constructor(initial: Snapshot = emptySnapshot()) {
    this.snapshot = initial;
  }

  get current(): Snapshot {
    return this.snapshot;
  }

  /**
   * Make `next` current and notify listeners. Every listener runs even if one throws; the throws are
   * rethrown together afterwards, with the swap already done.
   */
  swap(next: Snapshot): void {
    const previous = this.snapshot;
    if (next === previous) return;
    this.snapshot = next;
    const failures: unknown[] = [];
    for (const l of [...this.listeners]) {
      try {
        l(next, previous);
      } catch (e) {
        failures.push(e);
      }
    }
    if (failures.length > 0)
      throw new AggregateError(failures, `${failures.length} snapshot listener(s) threw`);
  }

  /** `applyDelta` on the current snapshot, then `swap` to the result. */
  apply(delta: Delta): readonly ApplyError[] {
    const { snapshot, errors } = applyDelta(this.snapshot, delta);
    this.swap(snapshot);
    return errors;
  }

  /** Returns the unsubscribe function. */
  onChange(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
