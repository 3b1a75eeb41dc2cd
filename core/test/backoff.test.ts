import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Backoff, isWeftError, retry, weftError, type Jitter } from "@weft/core";

void test("delays double from baseMs up to maxMs, and reset starts over", () => {
  const b = new Backoff({ baseMs: 100, maxMs: 1000, jitter: "none" });
  assert.deepEqual(
    Array.from({ length: 7 }, () => b.next()),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  assert.equal(b.attempt, 7);
  b.reset();
  assert.equal(b.attempt, 0);
  assert.deepEqual([b.next(), b.next()], [100, 200]);
});

void test("jitter maps the random source into the documented range", () => {
  const table: { jitter: Jitter; random: number; want: number[] }[] = [
    { jitter: "full", random: 0, want: [0, 0, 0] },
    { jitter: "full", random: 0.5, want: [50, 150, 450] },
    { jitter: "equal", random: 0, want: [50, 150, 450] },
    { jitter: "equal", random: 0.5, want: [75, 225, 675] },
    { jitter: "none", random: 0.5, want: [100, 300, 900] },
  ];
  for (const { jitter, random, want } of table) {
    const b = new Backoff({ baseMs: 100, maxMs: 10_000, factor: 3, jitter, random: () => random });
    assert.deepEqual([b.next(), b.next(), b.next()], want, `${jitter} @ ${random}`);
  }
});

void test("property: every delay lies within the jitter band of its capped exponential ceiling", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 0, max: 1_000_000 }),
      fc.double({ min: 1, max: 10, noNaN: true }),
      fc.constantFrom<Jitter>("full", "equal", "none"),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
        minLength: 1,
        maxLength: 200,
      }),
      (baseMs, extra, factor, jitter, randoms) => {
        const maxMs = baseMs + extra;
        let i = 0;
        const b = new Backoff({
          baseMs,
          maxMs,
          factor,
          jitter,
          random: () => randoms[i++ % randoms.length] ?? 0,
        });
        for (let k = 0; k < randoms.length; k++) {
          const ceiling = Math.min(maxMs, baseMs * factor ** k);
          const low = jitter === "full" ? 0 : jitter === "equal" ? ceiling / 2 : ceiling;
          const d = b.next();
          assert.ok(Number.isInteger(d), `delay ${d} is whole ms`);
          // ±1: rounding to whole milliseconds, and float drift between ** and repeated multiplication.
          assert.ok(
            d >= Math.floor(low) - 1 && d <= Math.ceil(ceiling) + 1,
            `attempt ${k}: ${d} not in [${low}, ${ceiling}]`,
          );
          assert.ok(d <= maxMs, `attempt ${k}: ${d} > maxMs ${maxMs}`);
        }
      },
    ),
  );
});

void test("property: a long outage never produces NaN, Infinity or a delay above maxMs", () => {
  fc.assert(
    fc.property(fc.double({ min: 1, max: 1000, noNaN: true }), (factor) => {
      const b = new Backoff({ baseMs: 1, maxMs: 30_000, factor, jitter: "none" });
      for (let k = 0; k < 5000; k++) {
        const d = b.next();
        assert.ok(Number.isFinite(d) && d >= 1 && d <= 30_000, `attempt ${k}: ${d}`);
      }
    }),
    { numRuns: 50 },
  );
});

void test("invalid options fail with WEFT_E_INVALID_INPUT", () => {
  for (const opts of [
    { baseMs: 0, maxMs: 10 },
    { baseMs: -1, maxMs: 10 },
    { baseMs: Number.NaN, maxMs: 10 },
    { baseMs: 10, maxMs: 5 },
    { baseMs: 10, maxMs: 100, factor: 0.5 },
    { baseMs: 10, maxMs: 100, factor: Infinity },
  ]) {
    assert.throws(
      () => new Backoff(opts),
      (err: unknown) => isWeftError(err, "WEFT_E_INVALID_INPUT"),
      JSON.stringify(opts),
    );
  }
});

const fast = { baseMs: 1, maxMs: 2, jitter: "none" } as const;

void test("retry returns the first success and reports each retry", async () => {
  const seen: { attempt: number; delayMs: number; message: string }[] = [];
  const attempts: number[] = [];
  const value = await retry(
    (attempt) => {
      attempts.push(attempt);
      return attempt < 3 ? Promise.reject(new Error(`fail ${attempt}`)) : Promise.resolve("ok");
    },
    {
      backoff: fast,
      attempts: 5,
      onRetry: (err, attempt, delayMs) => seen.push({ attempt, delayMs, message: (err as Error).message }),
    },
  );
  assert.equal(value, "ok");
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.deepEqual(seen, [
    { attempt: 1, delayMs: 1, message: "fail 1" },
    { attempt: 2, delayMs: 2, message: "fail 2" },
  ]);
});

void test("retry rethrows the last error when attempts run out", async () => {
  let calls = 0;
  await assert.rejects(
    retry(() => Promise.reject(new Error(`fail ${++calls}`)), { backoff: fast, attempts: 3 }),
    /fail 3/,
  );
  assert.equal(calls, 3);
});

void test("retry stops at once on a non-retryable error", async () => {
  let calls = 0;
  const fatal = weftError("WEFT_E_CA_PERMISSION_DENIED", "not your pod");
  await assert.rejects(
    retry(
      () => {
        calls++;
        return Promise.reject(fatal);
      },
      { backoff: fast, retryable: (err) => !isWeftError(err, "WEFT_E_CA_PERMISSION_DENIED") },
    ),
    (err: unknown) => err === fatal,
  );
  assert.equal(calls, 1);
});

void test("retry resets a shared Backoff before starting", async () => {
  const backoff = new Backoff({ baseMs: 1, maxMs: 1000, jitter: "none" });
  for (let i = 0; i < 8; i++) backoff.next();
  const delays: number[] = [];
  await retry((attempt) => (attempt < 2 ? Promise.reject(new Error("x")) : Promise.resolve()), {
    backoff,
    onRetry: (_e, _a, d) => delays.push(d),
  });
  assert.deepEqual(delays, [1]);
});

// The timeouts turn a broken abort (waiting out a 10-minute backoff) into a failure, not a hang.
void test("aborting during the wait rejects with the abort reason", { timeout: 10_000 }, async () => {
  const controller = new AbortController();
  const reason = weftError("WEFT_E_ABORTED", "shutting down");
  let calls = 0;
  const running = retry(
    () => {
      calls++;
      return Promise.reject(new Error("down"));
    },
    {
      backoff: { baseMs: 600_000, maxMs: 600_000, jitter: "none" },
      signal: controller.signal,
      onRetry: () => controller.abort(reason),
    },
  );
  await assert.rejects(running, (err: unknown) => err === reason);
  assert.equal(calls, 1);
});

void test("an already-aborted signal never calls fn", async () => {
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  let calls = 0;
  await assert.rejects(
    retry(
      () => {
        calls++;
        return Promise.resolve();
      },
      { backoff: fast, signal: controller.signal },
    ),
    /stop/,
  );
  assert.equal(calls, 0);
});

void test(
  "aborting while fn runs rejects with the reason and does not retry",
  { timeout: 10_000 },
  async () => {
    const controller = new AbortController();
    let calls = 0;
    const running = retry(
      (_attempt, signal) => {
        calls++;
        return new Promise<never>((_resolve, reject) => {
          signal?.addEventListener("abort", () => reject(new Error("io aborted")), { once: true });
        });
      },
      { backoff: fast, signal: controller.signal },
    );
    controller.abort(new Error("bye"));
    await assert.rejects(running, /bye/);
    assert.equal(calls, 1);
  },
);

void test("retry rejects attempts < 1", async () => {
  await assert.rejects(
    retry(() => Promise.resolve(), { backoff: fast, attempts: 0 }),
    (err: unknown) => isWeftError(err, "WEFT_E_INVALID_INPUT"),
  );
});
