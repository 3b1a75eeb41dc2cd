// The pure parts of mesh-l4: iperf3 and fortio JSON, /proc parsing, targets and the Markdown. The
// benchmark itself (root, a netns mesh, minutes of load) runs only under `npm run bench`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  cpuPer1000,
  cpuTicksFromStat,
  evaluateTargets,
  parseFortio,
  parseIperf,
  renderMeshL4,
  rssKiBFromStatus,
  summarizeProfile,
  type MeshL4Scenario,
  type RowFigures,
} from "@weft/bench";

const IPERF = JSON.stringify({
  start: { test_start: { num_streams: 8 } },
  end: {
    sum_sent: { seconds: 5, bits_per_second: 4.2e9, retransmits: 3 },
    sum_received: { seconds: 5.001, bits_per_second: 4.1e9 },
  },
});

const FORTIO = JSON.stringify({
  RequestedQPS: "1000",
  ActualQPS: 999.5,
  ActualDuration: 10_000_000_000,
  NumThreads: 8,
  DurationHistogram: {
    Count: 9995,
    Avg: 0.0004,
    Max: 0.012,
    Percentiles: [
      { Percentile: 50, Value: 0.00035 },
      { Percentile: 90, Value: 0.0006 },
      { Percentile: 99, Value: 0.0015 },
      { Percentile: 99.9, Value: 0.004 },
    ],
  },
  RetCodes: { "200": 9990, "503": 5 },
  SocketCount: 8,
});

function fortio(qps: number, p99Ms: number, errors = 0): ReturnType<typeof parseFortio> {
  return { ...parseFortio(FORTIO), actualQps: qps, p99Ms, errors };
}

function iperf(bps: number): ReturnType<typeof parseIperf> {
  return { ...parseIperf(IPERF), bitsPerSecond: bps };
}

void describe("mesh-l4 figures", () => {
  void it("parses iperf3 -J: the receiver's bits/s", () => {
    const f = parseIperf(IPERF);
    assert.equal(f.bitsPerSecond, 4.1e9);
    assert.equal(f.sentBitsPerSecond, 4.2e9);
    assert.equal(f.retransmits, 3);
    assert.equal(f.streams, 8);
    assert.throws(() => parseIperf(JSON.stringify({ error: "unable to connect" })), /unable to connect/);
  });

  void it("parses fortio -json: ms percentiles, non-200 answers are errors, log lines around are skipped", () => {
    const f = parseFortio(`some log line\n${FORTIO}\n`);
    assert.equal(f.requestedQps, 1000);
    assert.equal(f.requests, 9995);
    assert.equal(f.ok, 9990);
    assert.equal(f.errors, 5);
    assert.equal(f.p50Ms, 0.35);
    assert.equal(f.p99Ms, 1.5);
    assert.equal(f.p999Ms, 4);
    assert.equal(f.durationS, 10);
    assert.equal(
      parseFortio(JSON.stringify({ ...JSON.parse(FORTIO), RequestedQPS: "max" })).requestedQps,
      "max",
    );
  });

  void it("reads utime+stime and VmRSS from /proc", () => {
    // comm with a space and a parenthesis must not shift the fields.
    const stat = "1234 (node (x) y) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 11 0 100 0 0";
    assert.equal(cpuTicksFromStat(stat), 325);
    assert.equal(rssKiBFromStatus("Name:\tnode\nVmRSS:\t  51234 kB\nVmSwap:\t0 kB\n"), 51234);
    assert.equal(cpuPer1000(0.5, 10_000), 0.05);
  });

  void it("evaluates the issue's targets against direct and stunnel4 of the same run", () => {
    const rows: RowFigures[] = [
      {
        row: "direct",
        iperf1: iperf(20e9),
        fixed: fortio(1000, 0.5),
        saturation: fortio(30_000, 1),
        errors: {},
      },
      { row: "stunnel4", iperf1: iperf(4e9), iperf8: iperf(5e9), errors: {} },
      {
        row: "weft-l4",
        iperf1: iperf(6e9),
        iperf8: iperf(5e9),
        fixed: fortio(1000, 1.2),
        fixedCpu: { seconds: { a: 0.2, b: 0.2 }, totalSeconds: 0.4, per1000: 0.04 },
        saturation: fortio(12_000, 3),
        newConnections: fortio(6000, 5, 2),
        rss: { oneConnKiB: { a: 30_000 }, manyConnKiB: { a: 38_000, b: 45_000 }, held: 1000 },
        errors: {},
      },
    ];
    const t = evaluateTargets(rows);
    const pass = Object.fromEntries(t.map((x) => [x.name, x.pass]));
    assert.equal(pass["throughput, 1 stream"], true); // 1.5×
    assert.equal(pass["throughput, 8 streams"], false); // 1.0×
    assert.equal(pass["added p99 at 1000 rps"], true); // 0.7 ms
    assert.equal(pass["keep-alive HTTP rps at saturation"], false); // 0.4×
    assert.equal(pass["new tunnelled connections/s"], false, "errors fail the connection-rate target");
    assert.equal(pass["ztunnel CPU (both) per 1000 rps"], true);
    assert.equal(pass["ztunnel RSS at 1000 connections (larger of the two)"], false); // 43.9 MiB
    // A missing figure is neither pass nor fail.
    assert.ok(evaluateTargets([]).every((x) => x.pass === undefined && x.measured === "missing"));

    const scenario: MeshL4Scenario = {
      kind: "mesh-l4",
      quick: true,
      settings: {
        iperfSeconds: 1,
        fixedQps: 1000,
        fixedSeconds: 2,
        saturationSeconds: 2,
        connSeconds: 1,
        connections: 8,
        payloadBytes: 1024,
        held: 1000,
        fortio: "1.68.2",
        iperf3: "3.12",
        stunnel: "5.68",
      },
      rows,
      targets: t,
    };
    const md = renderMeshL4([scenario]);
    assert.match(md, /\| weft L4 \(2 ztunnels\) \| 6\.00 \(0\.30×\)/);
    assert.match(md, /\| added p99 at 1000 rps \| ≤ 1 ms \| 0\.700 ms \| pass \|/);
    assert.equal(renderMeshL4([]), "No mesh-l4 figures.");

    // The Node floor row is evaluated with the same targets, and shown next to weft's.
    const floorRow: RowFigures = { ...rows[2]!, row: "node-h2", iperf1: iperf(2e9), fixed: fortio(1000, 3) };
    const floor = evaluateTargets([...rows, floorRow], "node-h2");
    const floorPass = Object.fromEntries(floor.map((x) => [x.name, x.pass]));
    assert.equal(floorPass["throughput, 1 stream"], false); // 0.5×
    assert.equal(floorPass["added p99 at 1000 rps"], false); // 2.5 ms
    const withFloor = renderMeshL4([{ ...scenario, rows: [...rows, floorRow], floorTargets: floor }]);
    assert.match(
      withFloor,
      /\| added p99 at 1000 rps \| ≤ 1 ms \| 0\.700 ms \| pass \| 2\.500 ms \| FAIL \|/,
    );
    assert.match(withFloor, /\| Node floor: minimal HBONE pair \| 2\.00 \(0\.10×\)/);
  });

  void it("summarizes a V8 CPU profile by self time", () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 } },
        { id: 2, callFrame: { functionName: "(idle)", url: "", lineNumber: -1 } },
        { id: 3, callFrame: { functionName: "writev", url: "", lineNumber: -1 } },
        {
          id: 4,
          callFrame: { functionName: "onData", url: "file:///x/ztunnel/dist/src/a.js", lineNumber: 9 },
        },
      ],
      samples: [2, 2, 3, 3, 3, 4, 4, 4, 4, 4],
    };
    const s = summarizeProfile("p.cpuprofile", JSON.stringify(profile), 2);
    assert.equal(s.samples, 10);
    assert.equal(s.idlePercent, 20);
    assert.equal(s.busySamples, 8);
    assert.equal(s.jsPercent, 62.5); // of the busy samples
    assert.deepEqual(
      s.top.map((e) => [e.functionName, e.selfPercent]),
      [
        ["onData", 62.5],
        ["writev", 37.5],
      ],
    );
    assert.equal(s.top[0]!.location, "ztunnel/dist/src/a.js:10");
    assert.equal(s.windowed, false);
    assert.deepEqual(s.areas, { "weft (JS)": 62.5, "native / (program)": 37.5 });
    // Only the samples inside the window (timestamps: startTime + the running sum of timeDeltas).
    const timed = { ...profile, startTime: 1000, timeDeltas: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10] };
    const w = summarizeProfile("p.cpuprofile", JSON.stringify(timed), 5, { startUs: 1055, endUs: 1100 });
    assert.equal(w.windowed, true);
    assert.equal(w.samples, 5); // the five onData samples at 1060..1100
    assert.deepEqual(
      w.top.map((e) => e.functionName),
      ["onData"],
    );
  });
});
