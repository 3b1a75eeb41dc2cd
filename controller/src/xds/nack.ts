// Which resources a NACK rejected. A delta NACK only carries a google.rpc.Status; weft's client
// adds one detail, a google.protobuf.Struct `{ "rejected": { "<name>": "<reason>" } }`, so the
// server knows exactly which names stayed at their previous version. A client that sends no such
// detail (e.g. another implementation) is treated conservatively: every resource of the NACKed
// response may or may not have been applied.
import { anyUnpack, StructSchema, type Any } from "@bufbuild/protobuf/wkt";
import { toJson } from "@bufbuild/protobuf";
import type { Status } from "@weft/api";

/** Field of the Struct detail that maps rejected resource names to reasons (shared with @weft/state). */
export const NACK_REJECTED_FIELD = "rejected";

/** Names the client reported as rejected, or undefined when the NACK does not say. */
export function rejectedNames(status: Status): ReadonlySet<string> | undefined {
  for (const detail of status.details) {
    const names = fromDetail(detail);
    if (names !== undefined) return names;
  }
  return undefined;
}

function fromDetail(detail: Any): Set<string> | undefined {
  try {
    const struct = anyUnpack(detail, StructSchema);
    if (struct === undefined) return undefined;
    const json = toJson(StructSchema, struct);
    const rejected = json[NACK_REJECTED_FIELD];
    if (rejected === null || typeof rejected !== "object" || Array.isArray(rejected)) return undefined;
    return new Set(Object.keys(rejected));
  } catch {
    // A malformed detail must not break the stream; fall back to "unknown which".
    return undefined;
  }
}
