// The capture-cost benchmark's arithmetic (the measurement itself needs root and runs in
// `npm run bench -- --only redirect-connect`): medians per scenario and ratios against the same
// direction's no-capture rows, and a table that names every scenario.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  REDIRECT_SCENARIOS,
  connectRateMarkdown,
  summarizeConnectRate,
  type Capture,
  type ConnectFigures,
  type Direction,
} from "@weft/bench";

function row(
  direction: Direction,
  capture: Capture,
  round: number,
  perSecond: number,
  p50Us: number,
  p99Us: number,
) {
  const label = REDIRECT_SCENARIOS.find((s) => s.direction === direction && s.capture === capture)!.label;
  return {
    scenario: label,
    direction,
    capture,
    round,
    connections: 1000,
    concurrency: 4,
    perSecond,
    p50Us,
    p99Us,
    maxUs: p99Us * 2,
    over200ms: round === 2 ? 1 : 0,
    listenDrops: 0,
  } satisfies ConnectFigures;
}

void describe("redirect-connect summary", () => {
  const rows: ConnectFigures[] = [];
  for (const [round, jitter] of [
    [1, 0],
    [2, 100],
    [3, -100],
  ] as const) {
    rows.push(
      row("outbound", "none", round, 8000 + jitter, 100, 1000),
      row("outbound", "hook-pass", round, 8000 + jitter, 110, 1100),
      row("outbound", "captured", round, 4000 + jitter, 150, 2000),
      row("inbound", "none", round, 10000 + jitter, 80, 800),
      row("inbound", "captured", round, 5000 + jitter, 120, 1600),
    );
  }
  const summary = summarizeConnectRate(rows);

  void it("has one row per measured scenario, in the declared order, with medians over rounds", () => {
    assert.deepEqual(
      summary.map((s) => `${s.direction}/${s.capture}`),
      ["outbound/none", "outbound/hook-pass", "outbound/captured", "inbound/none", "inbound/captured"],
    );
    const captured = summary.find((s) => s.direction === "outbound" && s.capture === "captured")!;
    assert.equal(captured.rounds, 3);
    assert.equal(captured.perSecond, 4000);
    assert.equal(captured.over200ms, 1, "summed over rounds");
    assert.equal(captured.maxUs, 4000);
  });

  void it("ratios and added latency are against the same direction's baseline", () => {
    const out = summary.find((s) => s.direction === "outbound" && s.capture === "captured")!;
    assert.equal(out.rateRatio, 0.5);
    assert.equal(out.p50Ratio, 1.5);
    assert.equal(out.p99Ratio, 2);
    assert.equal(out.addedP50Us, 50);
    assert.equal(out.addedP99Us, 1000);
    // 1e6/4000 − 1e6/8000 = 250 − 125 µs.
    assert.equal(out.addedPerConnectionUs, 125);
    const inb = summary.find((s) => s.direction === "inbound" && s.capture === "captured")!;
    assert.equal(inb.rateRatio, 0.5);
    assert.equal(inb.addedP50Us, 40);
    assert.equal(inb.addedPerConnectionUs, 100);
    const base = summary.find((s) => s.direction === "inbound" && s.capture === "none")!;
    assert.deepEqual(
      [base.rateRatio, base.p50Ratio, base.addedP99Us, base.addedPerConnectionUs],
      [1, 1, 0, 0],
    );
  });

  void it("a direction without its baseline is left out rather than divided by nothing", () => {
    const noBase = summarizeConnectRate(
      rows.filter((r) => !(r.direction === "inbound" && r.capture === "none")),
    );
    assert.ok(noBase.every((s) => s.direction === "outbound"));
  });

  void it("the Markdown table has a row per scenario and the ratio columns", () => {
    const md = connectRateMarkdown(summary);
    for (const s of summary) assert.ok(md.includes(`| ${s.scenario} |`), s.scenario);
    assert.match(md, /rate vs\. no capture/);
    assert.match(md, /added p99 µs/);
    assert.match(md, /\| 4000 \| 50 % \| 150 \| 150 % \| \+50 \|/);
  });
});
