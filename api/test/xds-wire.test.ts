// The hand-assembled delta xDS encodings must be exactly what create() + toBinary() produce for
// the same message: the server and every client switched to them without changing the wire.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AddressSchema,
  AdsService,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  PreEncoded,
  isPreEncoded,
  ResourceSchema,
  TYPE_URL,
  WorkloadSchema,
  encodeDeltaAck,
  encodeDeltaResponse,
  packAny,
  type DeltaResponseParts,
} from "@weft/api";

function address(uid: string) {
  return packAny(
    AddressSchema,
    create(AddressSchema, { type: { case: "workload", value: create(WorkloadSchema, { uid, name: uid }) } }),
  );
}

const RESOURCES = [
  { name: "default/w1", version: "v1-aaaaaaaaaaaa", resource: address("w1") },
  // Over 127 bytes, so length prefixes take two bytes.
  { name: `default/${"x".repeat(200)}`, version: "v2-bbbbbbbbbbbb", resource: address("x".repeat(200)) },
  { name: "", version: "", resource: address("") },
];

/** What the server built before: the message through create(), encoded by toBinary(). */
function viaCreate(parts: DeltaResponseParts, resources: typeof RESOURCES) {
  const message = create(DeltaDiscoveryResponseSchema, {
    typeUrl: parts.typeUrl,
    nonce: parts.nonce,
    systemVersionInfo: parts.systemVersionInfo,
    resources: resources.map((r) => create(ResourceSchema, r)),
    removedResources: [...parts.removedResources],
    ...(parts.controlPlane !== undefined ? { controlPlane: { identifier: parts.controlPlane } } : {}),
  });
  return { message, bytes: toBinary(DeltaDiscoveryResponseSchema, message) };
}

function check(
  resources: typeof RESOURCES,
  removed: string[],
  controlPlane: string | undefined = "weft-controller",
): void {
  const parts: DeltaResponseParts = {
    typeUrl: TYPE_URL.Address,
    nonce: "1a",
    systemVersionInfo: "1a",
    resources: resources.map((r) => toBinary(ResourceSchema, create(ResourceSchema, r))),
    removedResources: removed,
    controlPlane,
  };
  const expected = viaCreate(parts, resources);
  const bytes = encodeDeltaResponse(parts);
  const decoded = fromBinary(DeltaDiscoveryResponseSchema, bytes);
  assert.ok(equals(DeltaDiscoveryResponseSchema, decoded, expected.message));
  assert.deepEqual(decoded, expected.message);
  assert.equal(Buffer.from(bytes).toString("hex"), Buffer.from(expected.bytes).toString("hex"));
}

void describe("encodeDeltaResponse", () => {
  void it("resources only", () => check(RESOURCES, []));
  void it("removals only (an empty name is still a removal)", () =>
    check([], ["default/w9", "", "z".repeat(300)]));
  void it("resources and removals", () => check(RESOURCES.slice(0, 2), ["default/w9"]));
  void it("empty (the in-sync answer to a first request)", () => check([], []));
  void it("an empty control plane identifier and none at all", () => {
    check(RESOURCES.slice(0, 1), [], "");
    check(RESOURCES.slice(0, 1), [], undefined);
  });
  void it("a large response (over the writer's initial buffer), twice in a row", () => {
    const many = Array.from({ length: 2000 }, (_, i) => ({
      name: `ns/w${i}`,
      version: `v${i}`,
      resource: address(`w${i}`),
    }));
    check(many, ["gone"]);
    check(RESOURCES.slice(0, 1), []);
  });
});

void describe("encodeDeltaAck", () => {
  void it("is the ACK request create() + toBinary() would write", () => {
    for (const [typeUrl, nonce] of [
      [TYPE_URL.Address, "1a"],
      [TYPE_URL.Authorization, "zzzzzz"],
      ["", "1"],
    ] as const) {
      const expected = toBinary(
        DeltaDiscoveryRequestSchema,
        create(DeltaDiscoveryRequestSchema, { typeUrl, responseNonce: nonce }),
      );
      assert.deepEqual(Buffer.from(encodeDeltaAck(typeUrl, nonce)), Buffer.from(expected));
    }
  });
});

void describe("grpc-js serializers", () => {
  const definition = AdsService.deltaAggregatedResources;
  void it("pass pre-encoded bytes through and still encode messages", () => {
    const message = create(DeltaDiscoveryResponseSchema, { typeUrl: TYPE_URL.Address, nonce: "7" });
    const bytes = toBinary(DeltaDiscoveryResponseSchema, message);
    const serialize = definition.responseSerialize as (m: unknown) => Buffer;
    assert.deepEqual(serialize(message), Buffer.from(bytes));
    const pre = serialize(new PreEncoded(bytes));
    assert.deepEqual(pre, Buffer.from(bytes));
    // Wrapped, not copied.
    assert.equal(pre.buffer, bytes.buffer);
    const ack = new PreEncoded(encodeDeltaAck(TYPE_URL.Address, "7"));
    const request = definition.requestDeserialize(
      (definition.requestSerialize as (m: unknown) => Buffer)(ack),
    );
    assert.equal(request.responseNonce, "7");
  });

  void it("recognise a PreEncoded made by another copy of @weft/api (brand, not instanceof)", () => {
    const bytes = encodeDeltaAck(TYPE_URL.Address, "9");
    // What a second copy of the module would construct: same registered brand, another class.
    const foreign = { [Symbol.for("weft.api.PreEncoded")]: true, bytes };
    assert.equal(foreign instanceof PreEncoded, false);
    assert.equal(isPreEncoded(foreign), true);
    const serialize = definition.requestSerialize as (m: unknown) => Buffer;
    assert.equal(definition.requestDeserialize(serialize(foreign)).responseNonce, "9");
    // A message is not mistaken for one, even with a `bytes` field.
    assert.equal(isPreEncoded({ bytes }), false);
    assert.equal(isPreEncoded(null), false);
  });
});
