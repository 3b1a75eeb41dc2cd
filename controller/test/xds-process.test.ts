import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TYPE_URL } from "@weft/api";
import { parseAddress, readControllerConfig, requestProblem, typeLabel } from "../src/index.js";
import { ResourceCache, SERVED_TYPE_URLS, publish } from "../src/xds/index.js";
import { workload } from "./xds-testkit.js";

void describe("parseAddress", () => {
  const ok: [string, { host: string; port: number }][] = [
    ["127.0.0.1:15012", { host: "127.0.0.1", port: 15012 }],
    ["0.0.0.0:0", { host: "0.0.0.0", port: 0 }],
    ["[::1]:15014", { host: "::1", port: 15014 }],
    ["localhost:80", { host: "localhost", port: 80 }],
  ];
  for (const [text, want] of ok) void it(`${text}`, () => assert.deepEqual(parseAddress(text, "--x"), want));
  for (const bad of ["15012", "127.0.0.1", "127.0.0.1:99999", "::1:80", "host:port"]) {
    void it(`rejects ${bad}`, () =>
      assert.throws(() => parseAddress(bad, "--xds-address"), /--xds-address .* is not host:port/));
  }
});

void describe("requestProblem (CA request checks before the CA core)", () => {
  const cases: [
    string,
    { validityDuration: bigint; metadata?: Record<string, unknown> },
    RegExp | undefined,
  ][] = [
    ["default validity", { validityDuration: 0n }, undefined],
    ["one day", { validityDuration: 86400n }, undefined],
    ["negative validity", { validityDuration: -1n }, /validity_duration -1 is out of range/],
    ["huge validity", { validityDuration: 2n ** 62n }, /out of range/],
    [
      "string impersonation",
      { validityDuration: 0n, metadata: { ImpersonatedIdentity: "spiffe://x/ns/a/sa/b" } },
      undefined,
    ],
    [
      "numeric impersonation",
      { validityDuration: 0n, metadata: { ImpersonatedIdentity: 7 } },
      /must be a SPIFFE id string/,
    ],
  ];
  for (const [name, req, want] of cases) {
    void it(name, () => {
      const got = requestProblem(req);
      if (want === undefined) assert.equal(got, undefined);
      else assert.match(got ?? "", want);
    });
  }
});

void describe("publish", () => {
  void it("replaces every served type, emptying types absent from the translation", () => {
    const cache = new ResourceCache();
    publish(cache, new Map([[TYPE_URL.Address, [workload("w1"), workload("w2")]]]));
    assert.deepEqual([...cache.resources(TYPE_URL.Address).keys()], ["w1", "w2"]);
    assert.deepEqual(cache.typeUrls(), [...SERVED_TYPE_URLS].sort());
    assert.equal(
      publish(cache, new Map([[TYPE_URL.Address, [workload("w1"), workload("w2")]]])),
      0,
      "same content: no change",
    );
    assert.equal(publish(cache, new Map()), 2);
    assert.equal(cache.resources(TYPE_URL.Address).size, 0);
  });

  void it("typeLabel keeps the message name of a type URL", () => {
    assert.equal(typeLabel(TYPE_URL.Address), "istio.workload.Address");
    assert.equal(typeLabel("bare"), "bare");
  });
});

void describe("controller defaults", () => {
  void it("serves xDS + CA on Istio's 15012 and admin on 15014 unless told otherwise", () => {
    const c = readControllerConfig({});
    assert.equal(c.xdsAddress, "0.0.0.0:15012");
    assert.equal(c.adminAddress, "0.0.0.0:15014");
    assert.deepEqual(parseAddress(c.xdsAddress, "--xds-address"), { host: "0.0.0.0", port: 15012 });
  });
});
