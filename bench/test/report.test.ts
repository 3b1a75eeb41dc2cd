// The README's results block: a day that re-runs one benchmark must not hide the others.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { latestAcrossDays } from "../src/report.js";

const machine = {
  cpus: 2,
  cpuModel: "test cpu",
  memoryGiB: 1,
  freeMemoryGiB: 1,
  loadAverageAtStart: [0, 0, 0],
  kernel: "test",
  node: "v24",
};
const run = (markdown: string) => ({
  startedAt: "2026-01-01T00:00:00Z",
  commit: "abc1234",
  quick: false,
  machine,
  result: { description: `${markdown} description`, markdown, scenarios: [] },
});

void describe("latestAcrossDays", () => {
  let dir = "";
  after(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  void it("takes each benchmark from the newest day that ran it", async () => {
    dir = await mkdtemp(join(tmpdir(), "weft-bench-report-"));
    await writeFile(
      join(dir, "2026-01-01.json"),
      JSON.stringify({ date: "2026-01-01", benchmarks: { alpha: run("alpha old"), beta: run("beta only") } }),
    );
    await writeFile(
      join(dir, "2026-01-02.json"),
      JSON.stringify({ date: "2026-01-02", benchmarks: { alpha: run("alpha new") } }),
    );
    // Not a day file: ignored.
    await writeFile(join(dir, "2026-01-03-extra-run.json"), JSON.stringify({ date: "x", benchmarks: {} }));
    const md = await latestAcrossDays(dir);
    assert.match(md, /## alpha \(2026-01-02, bench\/results\/2026-01-02\.md\)/);
    assert.match(md, /alpha new/);
    assert.doesNotMatch(md, /alpha old/);
    assert.match(md, /## beta \(2026-01-01, bench\/results\/2026-01-01\.md\)/);
    assert.match(md, /beta only/);
  });
});
