// weft's NACK detail convention, shared by the xDS client (@weft/state) and server
// (@weft/controller). A delta NACK carries only a google.rpc.Status; weft's client adds one
// detail, a google.protobuf.Struct `{ "rejected": { "<name>": "<reason>" } }`, so the server knows
// exactly which names stayed at their previous version and does not resend them. A NACK without
// that detail (e.g. from another implementation) says nothing about which resources were
// rejected: readers must then assume any of them may have been.
import { create, fromJson, toJson } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, StructSchema, type Any } from "@bufbuild/protobuf/wkt";
import { StatusSchema, type Status } from "./gen/google/rpc/status_pb.gen.js";

/** Field of the Struct detail that maps rejected resource names to reasons. */
export const NACK_REJECTED_FIELD = "rejected";
/** google.rpc.Code INVALID_ARGUMENT: the code of a NACK for resources the client refused. */
export const NACK_CODE_INVALID_ARGUMENT = 3;

/**
 * The `error_detail` of a NACK: `code` INVALID_ARGUMENT, a human `message`, and the rejected
 * names with their reasons as a Struct detail.
 */
export function encodeNackDetail(
  rejected: Readonly<Record<string, string>>,
  message = `rejected ${Object.keys(rejected).length} resource(s)`,
): Status {
  const detail = anyPack(StructSchema, fromJson(StructSchema, { [NACK_REJECTED_FIELD]: { ...rejected } }));
  return create(StatusSchema, { code: NACK_CODE_INVALID_ARGUMENT, message, details: [detail] });
}

/**
 * The names a NACK reports as rejected, with their reasons; undefined when the NACK carries no
 * weft detail (then it does not say which). Never throws: a malformed detail counts as absent.
 */
export function rejectedNames(status: Status): Record<string, string> | undefined {
  for (const detail of status.details) {
    const names = fromDetail(detail);
    if (names !== undefined) return names;
  }
  return undefined;
}

function fromDetail(detail: Any): Record<string, string> | undefined {
  try {
    const struct = anyUnpack(detail, StructSchema);
    if (struct === undefined) return undefined;
    const rejected = toJson(StructSchema, struct)[NACK_REJECTED_FIELD];
    if (rejected === null || typeof rejected !== "object" || Array.isArray(rejected)) return undefined;
    // fromEntries defines own properties, so a name like "__proto__" stays a plain key.
    return Object.fromEntries(
      Object.entries(rejected).map(([name, reason]) => [
        name,
        typeof reason === "string" ? reason : JSON.stringify(reason),
      ]),
    );
  } catch {
    return undefined;
  }
}
