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
