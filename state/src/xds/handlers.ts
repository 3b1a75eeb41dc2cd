// Per-type handlers: how one xDS type URL is decoded and applied. The generic client knows only
// this interface; the store handlers below feed istio.workload.Address and
// istio.security.Authorization into a StateStore through its two-phase apply. Waypoints add
// handlers of their own for weft.v1alpha1 types.
import type { Any } from "@bufbuild/protobuf/wkt";
import { AddressSchema, AuthorizationSchema, TYPE_URL, unpackAny } from "@weft/api";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { StateStore } from "../store.js";
import type { Resource, ResourceKind, ResourceRef } from "../types.js";
import { resourceKey } from "../validate.js";
import { addressFromProto, authorizationFromProto } from "./convert.js";

export interface DecodedResource<T> {
  readonly name: string;
  readonly version: string;
  readonly value: T;
}

export interface ResourceRejection {
  readonly name: string;
  readonly reason: string;
}

export interface XdsTypeHandler<T = unknown> {
  readonly typeUrl: string;
  /** Subscribe to these names; undefined or "*" for everything (wildcard). */
  readonly names?: readonly string[] | "*";
  /** Phase one, per resource: decode and convert. Throw to reject this resource (it is NACKed). */
  decode(name: string, resource: Any): T;
  /**
   * Phase two, once per response: apply the decoded upserts and the removals atomically. Returns
   * the resources that failed validation; the rest must have been applied.
   */
  apply(upserts: readonly DecodedResource<T>[], removes: readonly string[]): readonly ResourceRejection[];
}

/** Unpacks an Any of the expected schema, with a reason a person can act on when it is not one. */
export function unpackExpected<D extends DescMessage>(schema: D, resource: Any): MessageShape<D> {
  let message: MessageShape<D> | undefined;
  try {
    message = unpackAny(schema, resource);
  } catch (err) {
    throw new Error(`cannot decode ${schema.typeName}: ${(err as Error).message}`, { cause: err });
  }
  if (message === undefined) {
    throw new Error(
      `carries ${resource.typeUrl || "no type URL"}, expected type.googleapis.com/${schema.typeName}`,
    );
  }
  return message;
}

/** The store's resources arrive under names that must equal their content key (removals use names). */
function checkName(name: string, resource: Resource): Resource {
  const key = resourceKey(resource);
  if (key !== name)
    throw new Error(
      `resource name ${JSON.stringify(name)} does not match its content key ${JSON.stringify(key)}`,
    );
  return resource;
}

function applyToStore(
  store: StateStore,
  kinds: Map<string, ResourceKind>,
  fallbackKinds: readonly ResourceKind[],
  upserts: readonly DecodedResource<Resource>[],
  removes: readonly string[],
): ResourceRejection[] {
  const remove: ResourceRef[] = [];
  for (const name of removes) {
    const kind = kinds.get(name);
    if (kind !== undefined) remove.push({ kind, key: name });
    else for (const k of fallbackKinds) remove.push({ kind: k, key: name });
  }
  const errors = store.apply({ upsert: upserts.map((u) => u.value), remove });
  const rejected = new Set(errors.map((e) => e.name));
  for (const name of removes) kinds.delete(name);
  for (const u of upserts) if (!rejected.has(u.name)) kinds.set(u.name, u.value.kind);
  return errors.map((e) => ({ name: e.name, reason: e.error.message }));
}

/** istio.workload.Address (workloads and services) into `store`. */
export function addressHandler(store: StateStore, names?: readonly string[] | "*"): XdsTypeHandler<Resource> {
  const kinds = new Map<string, ResourceKind>();
  return {
    typeUrl: TYPE_URL.Address,
    ...(names !== undefined ? { names } : {}),
    decode: (name, any) => checkName(name, addressFromProto(unpackExpected(AddressSchema, any))),
    apply: (upserts, removes) => applyToStore(store, kinds, ["workload", "service"], upserts, removes),
  };
}

/** istio.security.Authorization into `store`. */
export function authorizationHandler(store: StateStore): XdsTypeHandler<Resource> {
  const kinds = new Map<string, ResourceKind>();
  return {
    typeUrl: TYPE_URL.Authorization,
    decode: (name, any) =>
      checkName(name, {
        kind: "authorization",
        authorization: authorizationFromProto(unpackExpected(AuthorizationSchema, any)),
      }),
    apply: (upserts, removes) => applyToStore(store, kinds, ["authorization"], upserts, removes),
  };
}
