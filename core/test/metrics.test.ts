import { test } from "node:test";
import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, createRegistry, isWeftError, serveMetrics } from "@weft/core";

void test("serves the registry on /metrics over HTTP, with default labels", async (t) => {
  const registry = createRegistry({ defaultLabels: { node: "node-a" } });
  const conns = new Counter({
    name: "weft_test_connections_total",
    help: "Connections.",
    labelNames: ["direction"],
    registers: [registry],
  });
  conns.inc({ direction: "outbound" }, 3);
  const latency = new Histogram({
    name: "weft_test_connect_seconds",
    help: "Connect time.",
    buckets: [0.01, 0.1],
    registers: [registry],
  });
  latency.observe(0.05);
  const metrics = await serveMetrics(registry, { host: "127.0.0.1", port: 0 });
  t.after(() => metrics.close());
  assert.ok(metrics.port > 0);

  const res = await fetch(`http://127.0.0.1:${metrics.port}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), registry.contentType);
  const body = await res.text();
  assert.match(body, /^# HELP weft_test_connections_total Connections\.$/m);
  assert.match(body, /^weft_test_connections_total\{direction="outbound",node="node-a"\} 3$/m);
  assert.match(body, /^weft_test_connect_seconds_bucket\{le="0\.1",node="node-a"\} 1$/m);

  conns.inc({ direction: "outbound" });
  const again = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics?x=1`)).text();
  assert.match(again, /^weft_test_connections_total\{direction="outbound",node="node-a"\} 4$/m);
});

void test("/healthz answers 200, unknown paths 404, other methods 405", async (t) => {
  const metrics = await serveMetrics(createRegistry(), { host: "127.0.0.1", port: 0 });
  t.after(() => metrics.close());
  const base = `http://127.0.0.1:${metrics.port}`;
  const table: { path: string; method?: string; status: number; body?: string }[] = [
    { path: "/healthz", status: 200, body: "ok\n" },
    { path: "/", status: 404 },
    { path: "/metricsx", status: 404 },
    { path: "/metrics", method: "POST", status: 405 },
  ];
  for (const { path, method, status, body } of table) {
    const res = await fetch(base + path, { method: method ?? "GET" });
    const text = await res.text();
    assert.equal(res.status, status, `${method ?? "GET"} ${path}`);
    if (body !== undefined) assert.equal(text, body);
  }
});

void test("registries are independent: the same metric name in two registries does not clash", async () => {
  const a = createRegistry();
  const b = createRegistry();
  new Gauge({ name: "weft_test_up", help: "Up.", registers: [a] }).set(1);
  new Gauge({ name: "weft_test_up", help: "Up.", registers: [b] }).set(2);
  assert.match(await a.metrics(), /^weft_test_up 1$/m);
  assert.match(await b.metrics(), /^weft_test_up 2$/m);
});

void test("collectDefault adds process metrics to that registry only", async () => {
  const withDefaults = createRegistry({ collectDefault: true });
  assert.match(await withDefaults.metrics(), /^process_cpu_user_seconds_total /m);
  assert.doesNotMatch(await createRegistry().metrics(), /process_cpu_user_seconds_total/);
});

void test("a taken port fails with WEFT_E_PORT_IN_USE", async (t) => {
  const first = await serveMetrics(createRegistry(), { host: "127.0.0.1", port: 0 });
  t.after(() => first.close());
  await assert.rejects(
    serveMetrics(createRegistry(), { host: "127.0.0.1", port: first.port }),
    (err: unknown) => {
      assert.ok(isWeftError(err, "WEFT_E_PORT_IN_USE"));
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${first.port}`));
      return true;
    },
  );
});

void test("close() resolves with a keep-alive scrape connection open, and the port stops answering", async () => {
  const metrics = await serveMetrics(createRegistry(), { host: "127.0.0.1", port: 0 });
  const res = await fetch(`http://127.0.0.1:${metrics.port}/healthz`, {
    headers: { connection: "keep-alive" },
  });
  await res.text();
  await metrics.close();
  await assert.rejects(fetch(`http://127.0.0.1:${metrics.port}/healthz`));
});
