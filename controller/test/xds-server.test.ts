import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick, setTimeout as sleep } from "node:timers/promises";
import { fromJson } from "@bufbuild/protobuf";
import { anyPack, StructSchema } from "@bufbuild/protobuf/wkt";
import { Debouncer, fireAt, type Timers } from "../src/xds/index.js";
import { ADDRESS, RawStream, names, service, startServer, workload, type Harness } from "./xds-testkit.js";

let harness: Harness | undefined;
const streams: RawStream[] = [];

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await harness?.close();
  harness = undefined;
});

async function start(opts: Parameters<typeof startServer>[0] = {}): Promise<Harness> {
  harness = await startServer(opts);
  return harness;
}

function stream(h: Harness): RawStream {
  const s = new RawStream(h.address);
  streams.push(s);
  return s;
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await tick();
  }
}

function rejectedDetail(rejected: Record<string, string>) {
  return [anyPack(StructSchema, fromJson(StructSchema, { rejected }))];
}

/** Timers driven by hand: `advance(to)` runs what falls due in order and moves the clock. */
function fakeClock(): { fake: Timers; advance: (to: number) => void; now: () => number } {
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const fake: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const t = { at: now + ms, fn };
      timers.push(t);
      return t;
    },
    clearTimeout: (h) => {
      const i = timers.indexOf(h as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const advance = (to: number): void => {
    for (;;) {
      const due = timers.filter((t) => t.at <= to).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      timers.splice(timers.indexOf(due), 1);
      now = due.at;
      due.fn();
    }
    now = to;
  };
  return { fake, advance, now: () => now };
}

void describe("debounce timing (pure)", () => {
  void it("fires after the quiet period, but never later than max after the first change", () => {
    const opts = { quietMs: 10, maxMs: 100 };
    assert.equal(fireAt(0, 0, opts), 10);
    assert.equal(fireAt(0, 50, opts), 60);
    assert.equal(fireAt(0, 95, opts), 100);
    assert.equal(fireAt(0, 200, opts), 100);
  });

  void it("a steady stream of changes fires at the max delay, then starts a new batch", () => {
    const { fake, advance, now } = fakeClock();
    const fires: number[] = [];
    const d = new Debouncer({ quietMs: 10, maxMs: 100 }, () => fires.push(now()), fake);
    for (let t = 0; t <= 250; t += 5) {
      advance(t);
      d.trigger();
    }
    advance(400);
    assert.deepEqual(fires, [100, 200, 260]);
  });

  void it("immediateWhenIdle: an isolated change fires at once, what follows is debounced", () => {
    const { fake, advance, now } = fakeClock();
    const fires: number[] = [];
    const d = new Debouncer(
      { quietMs: 10, maxMs: 100, immediateWhenIdle: true },
      () => fires.push(now()),
      fake,
    );
    d.trigger();
    d.trigger(); // same turn: rides along with the immediate fire
    advance(0);
    for (const t of [2, 4, 6]) {
      advance(t);
      d.trigger(); // within quietMs of the last fire: debounced
    }
    advance(50);
    advance(100);
    d.trigger(); // idle again
    advance(100);
    advance(300);
    assert.deepEqual(fires, [0, 16, 100]);
  });
});

void describe("DeltaXdsServer", () => {
  void it("wildcard: the first response carries every resource, workloads before services", async () => {
    const h = await start();
    h.cache.replace(ADDRESS, [service("a", "a.a.svc.cluster.local"), workload("z/w2"), workload("z/w1")]);
    const s = stream(h);
    s.send({ typeUrl: ADDRESS, node: { id: "ztunnel-a" } });
    const r = await s.next();
    assert.deepEqual(names(r), ["z/w1", "z/w2", "a/a.a.svc.cluster.local"]);
    assert.ok(r.nonce !== "");
    assert.ok(r.resources.every((x) => x.version.length > 0));
  });

  void it("an empty cache still answers the first request (the client knows it is in sync)", async () => {
    const h = await start();
    const s = stream(h);
    s.send({ typeUrl: ADDRESS });
    const r = await s.next();
    assert.equal(r.resources.length, 0);
    assert.equal(r.removedResources.length, 0);
  });

  void it("named subscriptions get only their names; subscribing later sends the new name", async () => {
    const h = await start();
    h.cache.replace(ADDRESS, [workload("w1"), workload("w2"), workload("w3")]);
    const s = stream(h);
    s.send({ typeUrl: ADDRESS, resourceNamesSubscribe: ["w1"] });
    const r1 = await s.next();
    assert.deepEqual(names(r1), ["w1"]);
    s.ack(r1);
    // Changes to names not subscribed are not sent: the next response is about w1 only.
    h.cache.update(ADDRESS, [workload("w2", [10, 0, 0, 2]), workload("w1", [10, 0, 0, 9])]);
    h.server.flush();
    const r2 = await s.next();
    assert.deepEqual(names(r2), ["w1"]);
    s.ack(r2);
    s.send({ typeUrl: ADDRESS, resourceNamesSubscribe: ["w3"] });
    const r3 = await s.next();
    assert.deepEqual(names(r3), ["w3"]);
    s.ack(r3);
    // Unsubscribed names stop flowing; removal of a subscribed one is announced.
    s.send({ typeUrl: ADDRESS, resourceNamesUnsubscribe: ["w1"] });
    await until(() => h.server.dump()[0]?.types[ADDRESS]?.names.includes("w1") === false);
    h.cache.update(ADDRESS, [workload("w1", [10, 0, 0, 10])], ["w3"]);
    h.server.flush();
    const r4 = await s.next();
    assert.deepEqual(names(r4), []);
    assert.deepEqual(r4.removedResources, ["w3"]);
  });

  void it("a wildcard client sees adds, changes and removals, and nothing for unchanged resources", async () => {
    const h = await start();
    h.cache.replace(ADDRESS, [workload("w1"), workload("w2")]);
    const s = stream(h);
    s.send({ typeUrl: ADDRESS });
    s.ack(await s.next());
    // Same content again: same versions, no push. Then a real change.
    h.cache.replace(ADDRESS, [workload("w1"), workload("w2")]);
    h.cache.replace(ADDRESS, [workload("w1"), workload("w3")]);
    h.server.flush();
    const r = await s.next();
    assert.deepEqual(names(r), ["w3"]);
    assert.deepEqual(r.removedResources, ["w2"]);
  });

  void it("coalesces a burst of 1000 changes into a handful of responses", async () => {
    // Generous windows so a loaded machine does not split the burst; the mechanism is the same.
    const h = await start({ debounce: { quietMs: 50, maxMs: 1000 } });
    const s = stream(h);
    s.send({ typeUrl: ADDRESS });
    s.ack(await s.next());
    const received = new Set<string>();
    let responses = 0;
    const done = (async () => {
      while (received.size < 1000) {
        const r = await s.next(10_000);
        responses++;
        for (const n of names(r)) received.add(n);
        s.ack(r);
      }
    })();
    for (let i = 0; i < 1000; i++) {
      h.cache.update(ADDRESS, [workload(`w${i}`, [10, 1, i >> 8, i & 255])]);
      // Spread over ~20 ms of wall time, longer than an ACK round trip, so only debouncing
      // (not just waiting for ACKs) keeps the response count down.
      if (i % 50 === 49) await sleep(1);
    }
    await done;
    assert.equal(received.size, 1000);
    assert.ok(responses <= 5, `1000 changes took ${responses} responses`);
  });

  void it("a NACKed resource is not resent at the same version; the others stay applied", async () => {
    const events: string[] = [];
    const h = await start({
      onEvent: (e) => {
        if (e.type === "nack") events.push(`${e.typeUrl} ${String(e.names)}`);
      },
    });
    h.cache.replace(ADDRESS, [workload("good"), workload("bad")]);
    const s = stream(h);
    s.send({ typeUrl: ADDRESS, node: { id: "zt" } });
    const r1 = await s.next();
    assert.deepEqual(names(r1), ["bad", "good"]);
    s.send({
      typeUrl: ADDRESS,
      responseNonce: r1.nonce,
      errorDetail: { code: 3, message: "bad: nope", details: rejectedDetail({ bad: "nope" }) },
    });
    // Another change flows; "bad" (unchanged) is not part of it.
    h.cache.update(ADDRESS, [workload("other")]);
    h.server.flush();
    const r2 = await s.next();
    assert.deepEqual(names(r2), ["other"]);
    s.ack(r2);
    // "good" was applied at its version: unchanged content is not resent either.
    h.cache.replace(ADDRESS, [workload("good"), workload("bad", [10, 9, 9, 9]), workload("other")]);
    h.server.flush();
    const r3 = await s.next();
    assert.deepEqual(names(r3), ["bad"], "a fixed 'bad' is sent again");
    assert.deepEqual(events, [`${ADDRESS} bad`]);
    const dump = h.server.dump();
    assert.equal(dump.length, 1);
    assert.equal(dump[0]?.types[ADDRESS]?.nacks, 1);
  });

  void it("a NACK without per-resource detail suppresses the whole response's versions, not later changes", async () => {
    const h = await start();
    h.cache.replace(ADDRESS, [workload("a"), workload("b")]);
    const s = stream(h);
    s.send({ typeUrl: ADDRESS });
    const r1 = await s.next();
    s.send({ typeUrl: ADDRESS, responseNonce: r1.nonce, errorDetail: { code: 3, message: "something" } });
    h.cache.update(ADDRESS, [workload("c")]);
    h.server.flush();
    const r2 = await s.next();
    assert.deepEqual(names(r2), ["c"]);
    s.ack(r2);
    // Reverting nothing, changing a: it is sent (its state at the client was unknown).
    h.cache.update(ADDRESS, [workload("a", [1, 2, 3, 4])]);
    h.server.flush();
    assert.deepEqual(names(await s.next()), ["a"]);
  });

  void it("initial_resource_versions: a reconnecting client gets only what differs, and removals", async () => {
    const h = await start();
    const all = Array.from({ length: 20 }, (_, i) => workload(`w${i}`, [10, 2, 0, i]));
    h.cache.replace(ADDRESS, all);
    const s1 = stream(h);
    s1.send({ typeUrl: ADDRESS });
    const first = await s1.next();
    assert.equal(first.resources.length, 20);
    s1.ack(first);
    const versions = Object.fromEntries(first.resources.map((r) => [r.name, r.version]));
    s1.close();

    // While it is away: one change, one removal, one add.
    h.cache.replace(ADDRESS, [
      ...all.slice(0, 18).map((w) => (w.name === "w3" ? workload("w3", [10, 3, 3, 3]) : w)),
      workload("new"),
    ]);
    const s2 = stream(h);
    s2.send({ typeUrl: ADDRESS, initialResourceVersions: { ...versions, ghost: "v0" } });
    const r = await s2.next();
    assert.deepEqual(names(r).sort(), ["new", "w3"]);
    assert.deepEqual([...r.removedResources].sort(), ["ghost", "w18", "w19"]);
  });

  void it("splits a large push; the workloads go first and the services follow after the ACK", async () => {
    const h = await start({ maxResponseBytes: 400 });
    const s = stream(h);
    s.send({ typeUrl: ADDRESS });
    s.ack(await s.next());
    h.cache.replace(ADDRESS, [
      service("a", "a.a.svc.cluster.local"),
      service("b", "b.b.svc.cluster.local"),
      ...Array.from({ length: 8 }, (_, i) => workload(`w${i}`, [10, 4, 0, i])),
    ]);
    h.server.flush();
    const seen: string[][] = [];
    let total = 0;
    while (total < 10) {
      const r = await s.next();
      seen.push(names(r));
      total += r.resources.length;
      s.ack(r);
    }
    assert.ok(seen.length > 1, "expected several responses");
    const flat = seen.flat();
    const lastWorkload = Math.max(...flat.map((n, i) => (n.startsWith("w") ? i : -1)));
    const firstService = flat.findIndex((n) => !n.startsWith("w"));
    assert.ok(lastWorkload < firstService, `order was ${JSON.stringify(seen)}`);
  });

  void it("serves several clients, each its own diff", async () => {
    const h = await start();
    h.cache.replace(ADDRESS, [workload("w1")]);
    const a = stream(h);
    const b = stream(h);
    a.send({ typeUrl: ADDRESS, node: { id: "a" } });
    b.send({ typeUrl: ADDRESS, resourceNamesSubscribe: ["w2"], node: { id: "b" } });
    assert.deepEqual(names(await a.next()), ["w1"]);
    const rb = await b.next();
    assert.deepEqual(names(rb), []);
    b.ack(rb);
    h.cache.update(ADDRESS, [workload("w2")]);
    h.server.flush();
    // a has not ACKed its first response yet: the change waits for it.
    assert.deepEqual(names(await b.next()), ["w2"]);
    a.ack(a.responses[0]!);
    assert.deepEqual(names(await a.next()), ["w2"]);
    assert.equal(h.server.clientCount, 2);
  });

  void it("one flush shares a response (nonce too) among clients with equal content; no stream sees a nonce twice", async () => {
    const h = await start();
    h.cache.replace(ADDRESS, [workload("w1"), workload("w2")]);
    const [a, b, c] = [stream(h), stream(h), stream(h)];
    a.send({ typeUrl: ADDRESS, node: { id: "a" } });
    b.send({ typeUrl: ADDRESS, node: { id: "b" } });
    c.send({ typeUrl: ADDRESS, resourceNamesSubscribe: ["w1"], node: { id: "c" } });
    for (const s of [a, b, c]) s.ack(await s.next());
    const seen = new Map<RawStream, string[]>([a, b, c].map((s) => [s, [s.responses[0]!.nonce]]));
    for (let round = 0; round < 3; round++) {
      // Only clients with no response awaiting its ACK are part of a flush.
      await until(() => h.server.dump().every((d) => d.types[ADDRESS]?.acks === round + 1));
      h.cache.update(ADDRESS, [workload("w1", [10, 0, 1, round]), workload("w2", [10, 0, 2, round])]);
      h.server.flush();
      const [ra, rb, rc] = await Promise.all([a.next(), b.next(), c.next()]);
      assert.deepEqual(names(ra), ["w1", "w2"]);
      assert.deepEqual(rb, ra);
      assert.deepEqual(names(rc), ["w1"]);
      assert.notEqual(rc.nonce, ra.nonce);
      for (const [s, r] of [
        [a, ra],
        [b, rb],
        [c, rc],
      ] as const) {
        const nonces = seen.get(s)!;
        assert.ok(!nonces.includes(r.nonce), `nonce ${r.nonce} seen twice on one stream`);
        nonces.push(r.nonce);
        s.ack(r);
      }
    }
    // Each stream took the shared nonce's ACK as its own.
    await until(() => h.server.dump().every((d) => d.types[ADDRESS]?.acks === 4));
  });

  void it("weft.v1alpha1 resources scoped to waypoints reach only those waypoints", async () => {
    const h = await start();
    const ROUTE = "type.googleapis.com/weft.v1alpha1.HttpRoute";
    const any = workload("x").resource;
    h.cache.replace(ROUTE, [
      { name: "shop/r1", resource: any, waypoints: ["shop/wp"] },
      { name: "shop/r2", resource: any, waypoints: ["other/wp"] },
      { name: "shop/r3", resource: any },
    ]);
    const wp = stream(h);
    wp.send({ typeUrl: ROUTE, node: { id: "wp", metadata: { WEFT_WAYPOINT: "shop/wp" } } });
    const r1 = await wp.next();
    assert.deepEqual(names(r1), ["shop/r1", "shop/r3"]);
    wp.ack(r1);
    // Re-scoping r1 away from this waypoint removes it there; scoping r2 to it sends it.
    h.cache.replace(ROUTE, [
      { name: "shop/r1", resource: any, waypoints: ["other/wp"] },
      { name: "shop/r2", resource: any, waypoints: ["other/wp", "shop/wp"] },
      { name: "shop/r3", resource: any },
    ]);
    h.server.flush();
    const r2 = await wp.next();
    assert.deepEqual(names(r2), ["shop/r2"]);
    assert.deepEqual(r2.removedResources, ["shop/r1"]);
    // A client that is not a waypoint sees everything.
    const dbg = stream(h);
    dbg.send({ typeUrl: ROUTE });
    assert.deepEqual(names(await dbg.next()), ["shop/r1", "shop/r2", "shop/r3"]);
  });
});
