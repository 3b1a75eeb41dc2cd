// Keeps the push-latency harness from rotting: a tiny run of the real thing (TLS gRPC server,
// real clients, in-process and in a child process) must produce well-formed results in which every
// client observed every change. No timing is asserted: figures belong in bench/results.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { percentile, runScenario, summarize, World, type ScenarioResult } from "@weft/bench";

function assertWellFormed(r: ScenarioResult, pods: number, clients: number, changes: number): void {
  // Every pod is a workload; each of the namespace's 20 Services is an Address too.
  assert.equal(r.resources.addresses, pods + 20);
  assert.equal(r.initialSync.synced, clients);
  assert.equal(r.changes.length, changes);
  for (const c of r.changes) {
    assert.equal(c.resources, 1, `${c.kind} ${c.pod} changes exactly its workload`);
    assert.equal(c.observed, clients, `every client observed ${c.kind} ${c.pod}`);
  }
  assert.deepEqual(
    r.changes.map((c) => c.kind),
    ["add-pod", "relabel-pod", "delete-pod"].slice(0, changes),
  );
  assert.equal(r.push.expected, clients * changes);
  assert.equal(r.push.missing, 0);
  assert.equal(r.push.count, clients * changes);
  for (const v of [r.push.p50, r.push.p99, r.push.max, r.serverWrite.max]) {
    assert.ok(Number.isFinite(v) && v >= 0, `latency ${v} is a duration`);
  }
  assert.ok(r.push.p50 <= r.push.p99 && r.push.p99 <= r.push.max);
  assert.ok(r.serverWrite.count >= clients * changes, "the server reported a push per client and change");
  assert.ok(r.memory.maxRssBytes > 0 && r.cpu.changes.userMs >= 0);
}

void describe("push-latency harness", () => {
  void it("in-process: 50 pods × 3 clients × 3 changes, every change reaches every client", async () => {
    const r = await runScenario({
      pods: 50,
      clients: 3,
      changes: 3,
      intervalMs: 20,
      fleet: "in-process",
      tls: true,
      syncTimeoutMs: 20_000,
      changeTimeoutMs: 5_000,
    });
    assertWellFormed(r, 50, 3, 3);
    assert.equal(r.fleetProcess, undefined);
  });

  void it("child process: the clients' CPU and RSS are reported apart", async () => {
    const r = await runScenario({
      pods: 50,
      clients: 3,
      changes: 3,
      intervalMs: 20,
      fleet: "child",
      tls: true,
      syncTimeoutMs: 20_000,
      changeTimeoutMs: 5_000,
    });
    assertWellFormed(r, 50, 3, 3);
    assert.ok(r.fleetProcess !== undefined && r.fleetProcess.maxRssBytes > 0);
  });
});

void describe("World", () => {
  void it("adds, relabels (moving the pod to the next Service) and deletes one pod per change", () => {
    const w = new World(400);
    assert.equal(w.namespaces.length, 2);
    assert.equal(w.services.length, 40);
    assert.equal(w.pods.size, 400);
    const added = w.mutate(0);
    assert.equal(added.kind, "add-pod");
    assert.equal(w.pods.size, 401);
    const before = w.objects().length;
    const relabel = w.mutate(1);
    const app = w.pods.get(relabel.pod)?.metadata.labels?.["app"];
    assert.equal(relabel.kind, "relabel-pod");
    assert.match(app ?? "", /^svc-\d+$/);
    assert.equal(w.objects().length, before);
    const deleted = w.mutate(2);
    assert.deepEqual([deleted.kind, deleted.pod, deleted.upserted.length], ["delete-pod", added.pod, 0]);
    assert.equal(deleted.removed[0], added.upserted[0], "the delta names the deleted pod object");
    assert.equal(w.pods.size, 400);
  });
});

void describe("percentile / summarize (nearest rank)", () => {
  const table: [number[], number, number][] = [
    [[1], 50, 1],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 99, 4],
    [Array.from({ length: 100 }, (_, i) => i + 1), 99, 99],
    [Array.from({ length: 1000 }, (_, i) => i + 1), 99, 990],
  ];
  for (const [sorted, p, want] of table) {
    void it(`p${p} of ${sorted.length} samples is ${want}`, () => assert.equal(percentile(sorted, p), want));
  }
  void it("summarizes unsorted samples; empty input gives NaN", () => {
    const s = summarize([5, 1, 3]);
    assert.deepEqual([s.count, s.min, s.p50, s.max, s.mean], [3, 1, 3, 5, 3]);
    assert.ok(Number.isNaN(summarize([]).p99));
  });
});
