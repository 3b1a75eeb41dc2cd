// The NACK detail codec both xDS ends share: what the client encodes the server decodes, across
// the wire, and anything else in a Status reads as "does not say which".
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { create, fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import { anyPack, StringValueSchema, StructSchema } from "@bufbuild/protobuf/wkt";
import {
  NACK_CODE_INVALID_ARGUMENT,
  NACK_REJECTED_FIELD,
  StatusSchema,
  encodeNackDetail,
  rejectedNames,
} from "@weft/api";

void describe("NACK detail", () => {
  void it("round-trips the rejected names and reasons through the wire encoding", () => {
    const rejected = { "Kubernetes//Pod/shop/a": "bad address", "shop/svc.shop.svc": "no ports" };
    const status = encodeNackDetail(rejected, "rejected 2 resource(s)");
    assert.equal(status.code, NACK_CODE_INVALID_ARGUMENT);
    assert.equal(status.message, "rejected 2 resource(s)");
    const wire = fromBinary(StatusSchema, toBinary(StatusSchema, status));
    assert.deepEqual(rejectedNames(wire), rejected);
  });

  void it("has a default message naming the count", () => {
    assert.equal(encodeNackDetail({ a: "x" }).message, "rejected 1 resource(s)");
  });

  void it("an empty map is a detail that names no resource (not 'unknown')", () => {
    assert.deepEqual(rejectedNames(encodeNackDetail({})), {});
  });

  void it("a name like __proto__ stays a plain key", () => {
    const built: Record<string, string> = Object.fromEntries([["__proto__", "evil"]]);
    const decoded = rejectedNames(encodeNackDetail(built));
    assert.ok(decoded !== undefined && Object.hasOwn(decoded, "__proto__"));
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  });

  const unknown: [string, ReturnType<typeof create<typeof StatusSchema>>][] = [
    ["no details", create(StatusSchema, { code: 3, message: "bad" })],
    [
      "a detail of another type",
      create(StatusSchema, {
        details: [anyPack(StringValueSchema, create(StringValueSchema, { value: "x" }))],
      }),
    ],
    [
      "a Struct without the field",
      create(StatusSchema, { details: [anyPack(StructSchema, fromJson(StructSchema, { other: {} }))] }),
    ],
    [
      "the field not being an object",
      create(StatusSchema, {
        details: [anyPack(StructSchema, fromJson(StructSchema, { [NACK_REJECTED_FIELD]: ["a"] }))],
      }),
    ],
    [
      "a Struct Any with garbage bytes",
      create(StatusSchema, {
        details: [
          { typeUrl: "type.googleapis.com/google.protobuf.Struct", value: new Uint8Array([0xff, 0xff]) },
        ],
      }),
    ],
  ];
  for (const [name, status] of unknown) {
    void it(`reads ${name} as "does not say which"`, () => assert.equal(rejectedNames(status), undefined));
  }

  void it("takes the first weft detail among others", () => {
    const status = encodeNackDetail({ a: "why" });
    status.details.unshift(anyPack(StringValueSchema, create(StringValueSchema, { value: "noise" })));
    assert.deepEqual(rejectedNames(status), { a: "why" });
  });

  void it("non-string reasons from other encoders are kept as JSON", () => {
    const status = create(StatusSchema, {
      details: [anyPack(StructSchema, fromJson(StructSchema, { [NACK_REJECTED_FIELD]: { a: 7 } }))],
    });
    assert.deepEqual(rejectedNames(status), { a: "7" });
  });

  void it("property: any name → reason map round-trips", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string()), (rejected) => {
        const plain = Object.fromEntries(Object.entries(rejected));
        const wire = fromBinary(StatusSchema, toBinary(StatusSchema, encodeNackDetail(plain)));
        assert.deepEqual(rejectedNames(wire), plain);
      }),
    );
  });
});
