// Golden-file tests: every directory under test/fixtures/<case>/ is loaded with the file source,
// translated, and compared with test/golden/<case>.json. `UPDATE_GOLDEN=1` rewrites the golden
// files; review the diff before committing it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { loadConfigDir } from "../src/source/index.js";
import { meshSettingsOf } from "../src/k8s/index.js";
import { toJson, type DescMessage } from "@bufbuild/protobuf";
import { security, TYPE_URL, unpackAny, weft, workload } from "@weft/api";
import { ipToBytes, toXdsResources, translate, type MeshTranslation } from "../src/translate/index.js";

// Compiled to dist/test/, the sources stay in test/.
const testDir = fileURLToPath(new URL("../../test/", import.meta.url));
const fixtures = `${testDir}fixtures/`;
const golden = `${testDir}golden/`;
const update = process.env["UPDATE_GOLDEN"] === "1";

const cases = readdirSync(fixtures, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

const SCHEMAS: Record<string, DescMessage> = {
  [TYPE_URL.Address]: workload.AddressSchema,
  [TYPE_URL.Authorization]: security.AuthorizationSchema,
  [TYPE_URL.L7Authorization]: weft.L7AuthorizationSchema,
  [TYPE_URL.HttpRoute]: weft.HttpRouteSchema,
  [TYPE_URL.GrpcRoute]: weft.GrpcRouteSchema,
  [TYPE_URL.TrafficPolicy]: weft.TrafficPolicySchema,
};

/** The packed xDS resources decoded back and printed with protobuf-es `toJson`: what goes on the wire. */
function wireJson(t: MeshTranslation): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [typeUrl, list] of toXdsResources(t)) {
    const schema = SCHEMAS[typeUrl];
    assert.ok(schema, `no schema for ${typeUrl}`);
    out[typeUrl] = list.map((r) => {
      assert.equal(r.resource.typeUrl, typeUrl);
      const msg = unpackAny(schema, r.resource);
      assert.ok(msg, `${r.name} does not decode as ${typeUrl}`);
      return {
        name: r.name,
        ...(r.waypoints ? { waypoints: r.waypoints } : {}),
        resource: toJson(schema, msg),
      };
    });
  }
  return out;
}

async function compareGolden(file: string, actual: string): Promise<void> {
  if (update) {
    await mkdir(golden, { recursive: true });
    await writeFile(file, actual);
    return;
  }
  const expected = await readFile(file, "utf8").catch(() => {
    throw new Error(`missing ${file}; run with UPDATE_GOLDEN=1 to create it`);
  });
  assert.deepEqual(JSON.parse(actual), JSON.parse(expected));
}

void test("ipToBytes: IPv4, IPv6 with ::, IPv4-mapped", () => {
  assert.deepEqual([...ipToBytes("10.1.2.3")], [10, 1, 2, 3]);
  assert.deepEqual([...ipToBytes("fd00::1")], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...ipToBytes("::")], new Array<number>(16).fill(0));
  assert.deepEqual(
    [...ipToBytes("::ffff:10.0.0.1")],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1],
  );
  assert.deepEqual(
    [...ipToBytes("2001:db8:1:2:3:4:5:6")],
    [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6],
  );
  assert.throws(() => ipToBytes("not-an-ip"));
});

void test("there are at least 10 golden cases", () => {
  assert.ok(cases.length >= 10, `only ${cases.length} cases`);
});

for (const name of cases) {
  void test(`golden: ${name}`, async () => {
    const loaded = await loadConfigDir(`${fixtures}${name}`);
    assert.deepEqual(loaded.errors, [], "fixture must be valid");
    const out = translate({ objects: loaded.objects, mesh: meshSettingsOf(loaded.objects) });
    const actual = `${JSON.stringify(out, null, 2)}\n`;
    await compareGolden(`${golden}${name}.json`, actual);
    await compareGolden(`${golden}${name}.xds.json`, `${JSON.stringify(wireJson(out), null, 2)}\n`);
    // Translation is a pure function: the same input gives byte-identical output.
    const again = translate({ objects: loaded.objects, mesh: meshSettingsOf(loaded.objects) });
    assert.equal(`${JSON.stringify(again, null, 2)}\n`, actual);
  });
}

// Every object of a kind that carries Gateway API-style conditions gets exactly one status, with
// an Accepted condition that has a reason (and routes a ResolvedRefs one), in every fixture. (Core
// objects, Pod/Service/Namespace, get one only when there is something to report.)
const CONDITIONED = new Set([
  "HTTPRoute",
  "GRPCRoute",
  "AuthorizationPolicy",
  "PeerAuthentication",
  "TrafficPolicy",
]);
void test("every Gateway API / weft.dev object in every fixture gets one status with reasons", async () => {
  let checked = 0;
  for (const name of cases) {
    const loaded = await loadConfigDir(`${fixtures}${name}`);
    const out = translate({ objects: loaded.objects, mesh: meshSettingsOf(loaded.objects) });
    for (const o of loaded.objects) {
      const obj = o as { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown };
      const spec = (obj.spec ?? {}) as { gatewayClassName?: string };
      const ours =
        CONDITIONED.has(obj.kind) || (obj.kind === "Gateway" && spec.gatewayClassName === "weft-waypoint");
      if (!ours) continue;
      const key = `${name}: ${obj.kind} ${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
      const mine = out.statuses.filter(
        (s) =>
          s.kind === obj.kind &&
          s.name === obj.metadata.name &&
          s.namespace === (obj.metadata.namespace ?? s.namespace),
      );
      assert.equal(mine.length, 1, `${key} has exactly one status`);
      const accepted = mine[0]!.conditions.find((c) => c.type === "Accepted");
      assert.ok(accepted !== undefined && accepted.reason !== "", `${key} has Accepted with a reason`);
      if (obj.kind.endsWith("Route")) {
        assert.ok(
          mine[0]!.conditions.some((c) => c.type === "ResolvedRefs" && c.reason !== ""),
          `${key} ResolvedRefs`,
        );
      }
      checked++;
    }
  }
  assert.ok(checked >= 25, `checked ${checked} objects`);
});
