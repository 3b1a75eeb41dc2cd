// The versioned resource cache the delta xDS server serves from: per type URL, name → the packed
// resource and a version derived from its bytes. Deriving the version from content (not from a
// counter) means a translation that produces the same resource again keeps its version, so it is
// neither pushed again nor resent to a reconnecting client that already holds it.
import { createHash } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { ResourceSchema } from "@weft/api";

export interface ResourceInput {
  readonly name: string;
  readonly resource: Any;
  /**
   * Send order inside one response: lower first. The Address type uses it to send workloads
   * before the services that reference them (0 workloads, 1 services).
   */
  readonly rank?: number;
  /**
   * Only these waypoints (Gateway `namespace/name`) receive the resource; absent means every
   * subscriber. The translation sets it on weft.v1alpha1 resources.
   */
  readonly waypoints?: readonly string[];
}

export interface CachedResource {
  readonly name: string;
  readonly version: string;
  readonly resource: Any;
  readonly rank: number;
  readonly waypoints: ReadonlySet<string> | undefined;
  /** Approximate encoded size, for splitting large pushes into several responses. */
  readonly size: number;
  /**
   * This version's envoy.service.discovery.v3.Resource (name, version, body) in wire encoding.
   * Made on first use and then shared by every response that carries it: a push sends the same
   * resource to every client, and encoding it again for each was most of the server's JS work
   * per client.
   */
  readonly encoded: Uint8Array;
}

/** Names of one type whose resource was added, changed or removed, and when the change was seen. */
export interface CacheChange {
  readonly typeUrl: string;
  readonly names: readonly string[];
  /** `performance.now()` when the source change was seen (push latency is measured from here). */
  readonly seenAt: number;
}

export type CacheListener = (change: CacheChange) => void;

/**
 * A short content hash: 12 bytes of SHA-256 in base64url, plenty to tell versions apart. The
 * audience is part of it, so a resource whose waypoints change counts as changed.
 */
export function resourceVersion(resource: Any, waypoints?: readonly string[]): string {
  const hash = createHash("sha256").update(resource.typeUrl).update("\0").update(resource.value);
  if (waypoints !== undefined) hash.update("\0").update([...waypoints].sort().join(","));
  return hash.digest("base64url").slice(0, 16);
}

/**
 * Whether `input` would get `old`'s version without hashing it: same type URL, same bytes, no
 * audience on either side. A translation republishes every resource on each change and almost all
 * are unchanged; comparing bytes (memcmp) instead of hashing them keeps publish() — which is on
 * the push-latency path — cheap at 10k resources (bench/: ~35 ms of SHA-256 down to a few ms).
 * Resources with an audience fall back to hashing, where the version also covers the audience.
 */
function sameContent(old: CachedResource, input: ResourceInput): boolean {
  if (old.waypoints !== undefined || input.waypoints !== undefined) return false;
  const a = old.resource.value;
  const b = input.resource.value;
  return (
    old.resource.typeUrl === input.resource.typeUrl &&
    a.byteLength === b.byteLength &&
    Buffer.compare(a, b) === 0
  );
}

class Entry implements CachedResource {
  readonly name: string;
  readonly version: string;
  readonly resource: Any;
  readonly rank: number;
  readonly waypoints: ReadonlySet<string> | undefined;
  readonly size: number;
  #encoded: Uint8Array | undefined;

  constructor(input: ResourceInput) {
    this.name = input.name;
    this.version = resourceVersion(input.resource, input.waypoints);
    this.resource = input.resource;
    this.rank = input.rank ?? 0;
    this.waypoints = input.waypoints === undefined ? undefined : new Set(input.waypoints);
    this.size = input.resource.value.byteLength + input.resource.typeUrl.length + input.name.length + 16;
  }

  get encoded(): Uint8Array {
    // Lazily: resources of a type nobody subscribes to are never sent, so never need encoding.
    return (this.#encoded ??= toBinary(
      ResourceSchema,
      create(ResourceSchema, { name: this.name, version: this.version, resource: this.resource }),
    ));
  }
}

const EMPTY: ReadonlyMap<string, CachedResource> = new Map();

export class ResourceCache {
  readonly #types = new Map<string, Map<string, CachedResource>>();
  readonly #listeners = new Set<CacheListener>();

  /** The resources of a type by name (live view; do not mutate). */
  resources(typeUrl: string): ReadonlyMap<string, CachedResource> {
    return this.#types.get(typeUrl) ?? EMPTY;
  }

  get(typeUrl: string, name: string): CachedResource | undefined {
    return this.#types.get(typeUrl)?.get(name);
  }

  typeUrls(): string[] {
    return [...this.#types.keys()].sort();
  }

  onChange(listener: CacheListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Makes `resources` the complete set of `typeUrl`: new and changed ones are stored, unchanged
   * ones keep their entry, missing ones are removed. Returns the names that changed.
   */
  replace(typeUrl: string, resources: Iterable<ResourceInput>, seenAt = performance.now()): string[] {
    const previous = this.#types.get(typeUrl) ?? new Map<string, CachedResource>();
    const next = new Map<string, CachedResource>();
    const changed: string[] = [];
    for (const input of resources) {
      const old = previous.get(input.name);
      if (old !== undefined && old.rank === (input.rank ?? 0) && sameContent(old, input)) {
        next.set(input.name, old);
        continue;
      }
      const entry = new Entry(input);
      if (old !== undefined && old.version === entry.version && old.rank === entry.rank) {
        next.set(input.name, old);
      } else {
        next.set(input.name, entry);
        if (old?.version !== entry.version) changed.push(input.name);
      }
    }
    for (const name of previous.keys()) if (!next.has(name)) changed.push(name);
    this.#types.set(typeUrl, next);
    this.#emit(typeUrl, changed, seenAt);
    return changed;
  }

  /** Upserts and removes some resources of a type. Returns the names that changed. */
  update(
    typeUrl: string,
    upserts: Iterable<ResourceInput>,
    removes: Iterable<string> = [],
    seenAt = performance.now(),
  ): string[] {
    let map = this.#types.get(typeUrl);
    if (map === undefined) this.#types.set(typeUrl, (map = new Map<string, CachedResource>()));
    const changed: string[] = [];
    for (const name of removes) if (map.delete(name)) changed.push(name);
    for (const input of upserts) {
      const old = map.get(input.name);
      if (old !== undefined && old.rank === (input.rank ?? 0) && sameContent(old, input)) continue;
      const entry = new Entry(input);
      if (old?.version === entry.version && old.rank === entry.rank) continue;
      map.set(input.name, entry);
      if (old?.version !== entry.version) changed.push(input.name);
    }
    this.#emit(typeUrl, changed, seenAt);
    return changed;
  }

  #emit(typeUrl: string, names: readonly string[], seenAt: number): void {
    if (names.length === 0) return;
    const change: CacheChange = { typeUrl, names, seenAt };
    for (const l of this.#listeners) l(change);
  }
}
