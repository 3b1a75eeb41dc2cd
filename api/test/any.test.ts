import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import {
  AddressSchema,
  AuthorizationSchema,
  GrpcRouteSchema,
  HttpRouteSchema,
  L7AuthorizationSchema,
  TYPE_URL,
  TrafficPolicySchema,
  WorkloadSchema,
  packAny,
  typeUrlOf,
  unpackAny,
  weft,
} from "@weft/api";

void describe("TYPE_URL", () => {
  const table: [keyof typeof TYPE_URL, DescMessage][] = [
    ["Address", AddressSchema],
    ["Authorization", AuthorizationSchema],
    ["HttpRoute", HttpRouteSchema],
    ["GrpcRoute", GrpcRouteSchema],
    ["TrafficPolicy", TrafficPolicySchema],
    ["L7Authorization", L7AuthorizationSchema],
  ];
  for (const [key, schema] of table) {
    void it(`${key} is type.googleapis.com/${schema.typeName}`, () => {
      assert.equal(TYPE_URL[key], typeUrlOf(schema));
    });
  }
  void it("uses Istio's package names for the WDS types", () => {
    assert.equal(TYPE_URL.Address, "type.googleapis.com/istio.workload.Address");
    assert.equal(TYPE_URL.Authorization, "type.googleapis.com/istio.security.Authorization");
  });
});

void describe("packAny / unpackAny", () => {
  void it("packs with the type URL and unpacks the same message", () => {
    const address = create(AddressSchema, {
      type: { case: "workload", value: create(WorkloadSchema, { uid: "u1" }) },
    });
    const any = packAny(AddressSchema, address);
    assert.equal(any.typeUrl, TYPE_URL.Address);
    const back = unpackAny(AddressSchema, any);
    assert.equal(back?.type.case, "workload");
    assert.equal(back?.type.case === "workload" ? back.type.value.uid : undefined, "u1");
  });

  void it("returns undefined for an Any of another type", () => {
    const any = packAny(AuthorizationSchema, create(AuthorizationSchema, { name: "p" }));
    assert.equal(unpackAny(AddressSchema, any), undefined);
  });

  void it("throws on bytes that are not a valid encoding", () => {
    const any = {
      ...packAny(AddressSchema, create(AddressSchema)),
      value: new Uint8Array([0x0a, 0x05, 0x01]),
    };
    assert.throws(() => unpackAny(AddressSchema, any));
  });

  void it("round-trips a weft HttpRoute through Any", () => {
    const route = create(HttpRouteSchema, {
      name: "r",
      namespace: "ns",
      parentRefs: [
        {
          kind: weft.ObjectRef_Kind.SERVICE,
          namespace: "ns",
          name: "svc",
          hostname: "svc.ns.svc.cluster.local",
        },
      ],
      rules: [
        {
          matches: [{ path: { kind: { case: "prefix", value: "/api" } }, method: "GET" }],
          backends: [{ service: { kind: weft.ObjectRef_Kind.SERVICE, name: "v2", port: 80 }, weight: 10 }],
          retry: { attempts: 2, conditions: [weft.RetryOn.CONNECT_FAILURE, weft.RetryOn.GATEWAY_ERROR] },
        },
      ],
    });
    const any = packAny(HttpRouteSchema, route);
    assert.equal(any.typeUrl, "type.googleapis.com/weft.v1alpha1.HttpRoute");
    const back = unpackAny(HttpRouteSchema, any);
    assert.equal(back?.rules[0]?.backends[0]?.weight, 10);
    assert.deepEqual(back?.rules[0]?.retry?.conditions, [
      weft.RetryOn.CONNECT_FAILURE,
      weft.RetryOn.GATEWAY_ERROR,
    ]);
  });
});
