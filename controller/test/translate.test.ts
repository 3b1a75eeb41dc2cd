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
import { translate } from "../src/translate/index.js";

// Compiled to dist/test/, the sources stay in test/.
const testDir = fileURLToPath(new URL("../../test/", import.meta.url));
const fixtures = `${testDir}fixtures/`;
const golden = `${testDir}golden/`;
const update = process.env["UPDATE_GOLDEN"] === "1";

const cases = readdirSync(fixtures, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

void test("there are at least 10 golden cases", () => {
  assert.ok(cases.length >= 10, `only ${cases.length} cases`);
});

for (const name of cases) {
  void test(`golden: ${name}`, async () => {
    const loaded = await loadConfigDir(`${fixtures}${name}`);
    assert.deepEqual(loaded.errors, [], "fixture must be valid");
    const out = translate({ objects: loaded.objects, mesh: meshSettingsOf(loaded.objects) });
    const actual = `${JSON.stringify(out, null, 2)}\n`;
    const file = `${golden}${name}.json`;
    if (update) {
      await mkdir(golden, { recursive: true });
      await writeFile(file, actual);
      return;
    }
    const expected = await readFile(file, "utf8").catch(() => {
      throw new Error(`missing ${file}; run with UPDATE_GOLDEN=1 to create it`);
    });
    assert.deepEqual(JSON.parse(actual), JSON.parse(expected));
    // Translation is a pure function: the same input gives byte-identical output.
    const again = translate({ objects: loaded.objects, mesh: meshSettingsOf(loaded.objects) });
    assert.equal(`${JSON.stringify(again, null, 2)}\n`, actual);
  });
}
