// Translation output → the resource cache. Every known type is replaced as a whole, so a type
// whose last resource disappeared is emptied (and clients get the removals) rather than left stale.
import { TYPE_URL } from "@weft/api";
import type { ResourceCache, ResourceInput } from "./cache.js";

export const SERVED_TYPE_URLS: readonly string[] = Object.values(TYPE_URL);

/** Replaces every served type with `resources` (types absent from the map become empty). Returns the changed count. */
export function publish(
  cache: ResourceCache,
  resources: ReadonlyMap<string, readonly ResourceInput[]>,
  seenAt: number = performance.now(),
): number {
  let changed = 0;
  const types = new Set([...SERVED_TYPE_URLS, ...resources.keys()]);
  for (const typeUrl of types) changed += cache.replace(typeUrl, resources.get(typeUrl) ?? [], seenAt).length;
  return changed;
}

/** An incremental translation's output: a full one replaces everything, a pod-only one upserts. */
export type PublishableUpdate =
  | { readonly kind: "full"; readonly resources: ReadonlyMap<string, readonly ResourceInput[]> }
  | {
      readonly kind: "pods";
      readonly typeUrl: string;
      readonly upserts: readonly ResourceInput[];
      readonly removes: readonly string[];
    };

/** Publishes an IncrementalTranslator update. Returns the changed count. */
export function publishUpdate(
  cache: ResourceCache,
  update: PublishableUpdate,
  seenAt: number = performance.now(),
): number {
  if (update.kind === "full") return publish(cache, update.resources, seenAt);
  return cache.update(update.typeUrl, update.upserts, update.removes, seenAt).length;
}
