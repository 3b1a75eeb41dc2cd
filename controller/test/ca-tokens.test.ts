import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { authenticateBearer, buildTokenTable, loadTokenFile, parseTokenFile } from "../src/ca/index.js";
import { rejectsWith, withTempDir } from "./ca-testkit.js";

const NOW = new Date("2030-06-01T00:00:00Z");
const CART = "cart-token-0123456789abcdef";
const ZT = "ztunnel-token-0123456789abcdef";
const OLD = "expired-token-0123456789abcdef";

const YAML = `
- token: ${CART}
  serviceAccount: shop/cart
  podName: cart-1
- token: ${ZT}
  serviceAccount: weft-system/ztunnel
  podName: ztunnel-a
  nodeName: node-a
- token: ${OLD}
  serviceAccount: shop/legacy
  expiresAt: 2030-01-01T00:00:00Z
`;

void describe("token file", () => {
  const table = parseTokenFile(YAML, "tokens.yaml");

  void it("authenticates a known token to its service account, pod and node", () => {
    assert.deepEqual(authenticateBearer(table, `Bearer ${ZT}`, NOW), {
      ok: true,
      caller: {
        namespace: "weft-system",
        serviceAccount: "ztunnel",
        podName: "ztunnel-a",
        nodeName: "node-a",
      },
    });
    assert.deepEqual(authenticateBearer(table, `bearer   ${CART}`, NOW), {
      ok: true,
      caller: { namespace: "shop", serviceAccount: "cart", podName: "cart-1" },
    });
  });

  void it("refuses unknown, expired, missing and malformed credentials with distinct reasons", () => {
    const cases: [string | undefined, string, RegExp][] = [
      [`Bearer ${CART}x`, "token_unknown", /not known to the CA/],
      [`Bearer ${CART.slice(0, -1)}`, "token_unknown", /not known/],
      [`Bearer ${OLD}`, "token_expired", /shop\/legacy expired at 2030-01-01T00:00:00\.000Z/],
      [undefined, "token_missing", /no bearer token/],
      ["", "token_missing", /no bearer token/],
      [CART, "token_malformed", /not 'Bearer <token>'/],
      [`Basic ${CART}`, "token_malformed", /not 'Bearer <token>'/],
      [`Bearer ${CART} trailing`, "token_malformed", /not 'Bearer <token>'/],
    ];
    for (const [header, reason, message] of cases) {
      const got = authenticateBearer(table, header, NOW);
      assert.equal(got.ok, false, String(header));
      if (got.ok) continue;
      assert.equal(got.reason, reason, String(header));
      assert.match(got.message, message);
    }
  });

  void it("an expiring token works until its expiry", () => {
    const t = buildTokenTable([
      { token: OLD, namespace: "shop", serviceAccount: "legacy", expiresAt: "2030-01-01T00:00:00Z" },
    ]);
    assert.equal(authenticateBearer(t, `Bearer ${OLD}`, new Date("2029-12-31T23:59:59Z")).ok, true);
    assert.equal(authenticateBearer(t, `Bearer ${OLD}`, new Date("2030-01-01T00:00:00Z")).ok, false);
  });

  void it("keeps only hashes of tokens", () => {
    assert.ok(!JSON.stringify(table).includes(CART));
    assert.ok(table.entries.every((e) => e.tokenHash.length === 32));
  });

  void it("accepts JSON and the { tokens: [...] } form", () => {
    const json = JSON.stringify({ tokens: [{ token: CART, serviceAccount: "shop/cart" }] });
    const t = parseTokenFile(json);
    assert.equal(authenticateBearer(t, `Bearer ${CART}`, NOW).ok, true);
  });

  void it("rejects bad files naming the entry and the fix", () => {
    assert.throws(() => parseTokenFile("- token: [", "t.yaml"), /WEFT_E_CONFIG: t\.yaml: not valid YAML/);
    assert.throws(
      () => parseTokenFile(`- token: ${CART}\n  serviceAccount: cart\n`, "t.yaml"),
      /at 0\.serviceAccount.*namespace\/name/,
    );
    assert.throws(
      () => parseTokenFile(`- token: short\n  serviceAccount: shop/cart\n`, "t.yaml"),
      /entry 0: token is shorter than 16/,
    );
    assert.throws(
      () =>
        parseTokenFile(`- token: ${CART}\n  serviceAccount: shop/cart\n  expiresAt: tomorrow\n`, "t.yaml"),
      /entry 0: expiresAt "tomorrow" is not a date/,
    );
    assert.throws(
      () => parseTokenFile(`- token: ${CART}\n  serviceAccount: Shop/Cart\n`, "t.yaml"),
      /not two Kubernetes names/,
    );
    assert.throws(
      () => parseTokenFile(`- token: ${CART}\n  serviceAccount: shop/cart\n  role: admin\n`, "t.yaml"),
      /role/,
    );
  });

  void it("loads from a file, and names a missing file", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "tokens.yaml");
      await writeFile(path, YAML);
      const t = await loadTokenFile(path);
      assert.equal(t.entries.length, 3);
      await rejectsWith(
        loadTokenFile(join(dir, "nope.yaml")),
        "WEFT_E_CONFIG",
        /cannot read token file .*nope\.yaml/,
      );
    });
  });
});
