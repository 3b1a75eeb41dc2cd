import { test } from "node:test";
import assert from "node:assert/strict";
import {
  LOG_LEVEL_CONFIG,
  defineConfig,
  describeConfig,
  formatDuration,
  isWeftError,
  parseDuration,
  readConfig,
  type ConfigEntry,
  type WeftError,
} from "@weft/core";

const spec = defineConfig({
  name: { env: "WEFT_NAME", type: "string", default: "node-a", why: "Node name." },
  workers: { env: "WEFT_WORKERS", type: "int", default: 2, min: 1, max: 64, why: "Worker count." },
  debug: { env: "WEFT_DEBUG", type: "bool", default: false, why: "Debug mode." },
  timeout: { env: "WEFT_TIMEOUT", type: "duration", default: "10s", why: "Request timeout." },
  grace: { env: "WEFT_GRACE", type: "duration", default: 5000, min: 0, max: 60_000, why: "Drain." },
  mode: { env: "WEFT_MODE", type: "enum", values: ["strict", "permissive"], default: "strict", why: "mTLS." },
  peers: { env: "WEFT_PEERS", type: "list", default: ["a", "b"], why: "Peers." },
  port: { env: "WEFT_PORT", type: "port", default: 15020, why: "Metrics | scrape port." },
  kubeconfig: { env: "WEFT_KUBECONFIG", type: "string", optional: true, why: "Kubeconfig path." },
  logLevel: LOG_LEVEL_CONFIG,
});

void test("defaults apply when the environment is empty, with types following the spec", () => {
  const c = readConfig(spec, {});
  assert.deepEqual(c, {
    name: "node-a",
    workers: 2,
    debug: false,
    timeout: 10_000,
    grace: 5000,
    mode: "strict",
    peers: ["a", "b"],
    port: 15020,
    kubeconfig: undefined,
    logLevel: "info",
  });
  // Compile-time checks: the result type follows the spec.
  const mode: "strict" | "permissive" = c.mode;
  const level: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent" = c.logLevel;
  const kube: string | undefined = c.kubeconfig;
  const n: number = c.timeout + c.workers + c.port;
  const b: boolean = c.debug;
  const peers: string[] = c.peers;
  // @ts-expect-error an optional variable may be undefined
  const kubeStrict: string = c.kubeconfig;
  // @ts-expect-error enum values are literal types
  const wrong: "other" = c.mode;
  void [mode, level, kube, n, b, peers, kubeStrict, wrong];
});

void test("the default list is a copy: mutating one result does not change the next", () => {
  const first = readConfig(spec, {});
  first.peers.push("c");
  assert.deepEqual(readConfig(spec, {}).peers, ["a", "b"]);
});

void test("valid values are parsed per type", () => {
  const table: { env: Record<string, string>; key: keyof typeof spec; want: unknown }[] = [
    { env: { WEFT_NAME: "x y" }, key: "name", want: "x y" },
    { env: { WEFT_NAME: "" }, key: "name", want: "" },
    { env: { WEFT_WORKERS: "64" }, key: "workers", want: 64 },
    { env: { WEFT_WORKERS: " 1 " }, key: "workers", want: 1 },
    { env: { WEFT_WORKERS: "" }, key: "workers", want: 2 },
    { env: { WEFT_DEBUG: "true" }, key: "debug", want: true },
    { env: { WEFT_DEBUG: "YES" }, key: "debug", want: true },
    { env: { WEFT_DEBUG: "1" }, key: "debug", want: true },
    { env: { WEFT_DEBUG: "on" }, key: "debug", want: true },
    { env: { WEFT_DEBUG: "off" }, key: "debug", want: false },
    { env: { WEFT_DEBUG: "0" }, key: "debug", want: false },
    { env: { WEFT_TIMEOUT: "500ms" }, key: "timeout", want: 500 },
    { env: { WEFT_TIMEOUT: "5m" }, key: "timeout", want: 300_000 },
    { env: { WEFT_TIMEOUT: "1h30m" }, key: "timeout", want: 5_400_000 },
    { env: { WEFT_TIMEOUT: "1.5s" }, key: "timeout", want: 1500 },
    { env: { WEFT_TIMEOUT: "0" }, key: "timeout", want: 0 },
    { env: { WEFT_GRACE: "1m" }, key: "grace", want: 60_000 },
    { env: { WEFT_MODE: "permissive" }, key: "mode", want: "permissive" },
    { env: { WEFT_PEERS: " x, y ,,z " }, key: "peers", want: ["x", "y", "z"] },
    { env: { WEFT_PEERS: "" }, key: "peers", want: [] },
    { env: { WEFT_PORT: "0" }, key: "port", want: 0 },
    { env: { WEFT_PORT: "65535" }, key: "port", want: 65535 },
    { env: { WEFT_KUBECONFIG: "/k" }, key: "kubeconfig", want: "/k" },
    { env: { WEFT_LOG_LEVEL: "debug" }, key: "logLevel", want: "debug" },
  ];
  for (const { env, key, want } of table) {
    assert.deepEqual(readConfig(spec, env)[key], want, `${JSON.stringify(env)} → ${key}`);
  }
});

function configError(fn: () => unknown): WeftError {
  try {
    fn();
  } catch (err) {
    if (isWeftError(err, "WEFT_E_CONFIG")) return err;
    throw err;
  }
  assert.fail("expected a WEFT_E_CONFIG error");
}

void test("one error lists every bad variable with its expected form", () => {
  const err = configError(() =>
    readConfig(spec, {
      WEFT_WORKERS: "65",
      WEFT_DEBUG: "maybe",
      WEFT_TIMEOUT: "10",
      WEFT_GRACE: "2m",
      WEFT_MODE: "STRICT",
      WEFT_PORT: "70000",
      WEFT_LOG_LEVEL: "verbose",
      WEFT_NAME: "fine",
    }),
  );
  const problems = err.details?.problems as { env: string; value: string; expected: string }[];
  assert.deepEqual(problems, [
    { env: "WEFT_WORKERS", value: '"65"', expected: "an integer 1..64" },
    { env: "WEFT_DEBUG", value: '"maybe"', expected: "true/false (also 1/0, yes/no, on/off)" },
    { env: "WEFT_TIMEOUT", value: '"10"', expected: "a duration like 500ms, 10s, 5m or 1h30m" },
    { env: "WEFT_GRACE", value: '"2m"', expected: "a duration like 500ms, 10s, 5m or 1h30m 0..1m" },
    { env: "WEFT_MODE", value: '"STRICT"', expected: "one of strict, permissive" },
    { env: "WEFT_PORT", value: '"70000"', expected: "a port 0..65535" },
    {
      env: "WEFT_LOG_LEVEL",
      value: '"verbose"',
      expected: "one of fatal, error, warn, info, debug, trace, silent",
    },
  ]);
  assert.match(err.message, /^WEFT_E_CONFIG: 7 invalid environment variables: WEFT_WORKERS="65" \(expected/);
  for (const p of problems) assert.ok(err.message.includes(`${p.env}=${p.value}`), p.env);
  assert.ok(!err.message.includes("WEFT_NAME"));
});

void test("bad integers are rejected, not truncated", () => {
  for (const value of ["1.5", "2x", "0x10", "1e3", "abc", "9007199254740993"]) {
    const err = configError(() => readConfig(spec, { WEFT_WORKERS: value }));
    assert.equal((err.details?.problems as unknown[]).length, 1, value);
  }
});

void test("a variable without default is required unless optional", () => {
  const required = defineConfig({
    token: { env: "WEFT_TOKEN", type: "string", why: "Token." },
    ca: { env: "WEFT_CA_ADDR", type: "string", why: "CA." },
    port: { env: "WEFT_OPT_PORT", type: "port", optional: true, why: "Port." },
  });
  const err = configError(() => readConfig(required, { WEFT_CA_ADDR: "x" }));
  assert.deepEqual(err.details?.problems, [
    { env: "WEFT_TOKEN", value: "(unset)", expected: "set: a string" },
  ]);
  assert.deepEqual(readConfig(required, { WEFT_TOKEN: "t", WEFT_CA_ADDR: "c" }), {
    token: "t",
    ca: "c",
    port: undefined,
  });
});

void test("a default the reader itself would reject is a bug in the spec, reported as such", () => {
  const bad: ConfigEntry[] = [
    { env: "WEFT_D", type: "duration", default: "ten seconds", why: "." },
    { env: "WEFT_D", type: "duration", default: 500, max: 100, why: "." },
    { env: "WEFT_I", type: "int", default: 0, min: 1, why: "." },
    { env: "WEFT_I", type: "int", default: 1.5, why: "." },
    { env: "WEFT_P", type: "port", default: 70_000, why: "." },
    { env: "WEFT_E", type: "enum", values: ["a", "b"], default: "c", why: "." },
  ];
  for (const entry of bad) {
    assert.throws(
      () => readConfig({ x: entry }, {}),
      (err: unknown) => isWeftError(err, "WEFT_E_INTERNAL") && err.message.includes(entry.env),
      JSON.stringify(entry),
    );
  }
  // ...but only when the default is used.
  assert.deepEqual(
    readConfig({ x: { env: "WEFT_I", type: "int", default: 0, min: 1, why: "." } }, { WEFT_I: "3" }),
    {
      x: 3,
    },
  );
});

void test("readConfig reads process.env by default", () => {
  process.env.WEFT_CORE_TEST_PROBE = "42";
  try {
    const c = readConfig({ probe: { env: "WEFT_CORE_TEST_PROBE", type: "int", default: 0, why: "." } });
    assert.equal(c.probe, 42);
  } finally {
    delete process.env.WEFT_CORE_TEST_PROBE;
  }
});

void test("parseDuration and formatDuration", () => {
  const table: [string, number | undefined][] = [
    ["0", 0],
    ["1ms", 1],
    ["10s", 10_000],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["0.5s", 500],
    ["10", undefined],
    ["-1s", undefined],
    ["1d", undefined],
    ["s", undefined],
    ["", undefined],
    ["1s 2s", undefined],
  ];
  for (const [text, want] of table) assert.equal(parseDuration(text), want, text);
  for (const ms of [0, 1, 500, 1000, 90_000, 3_600_000, 5_400_250]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, `round trip ${ms}`);
  }
  assert.equal(formatDuration(5_400_250), "1h30m250ms");
});

void test("describeConfig renders a Markdown table row per variable", () => {
  const entries: Record<string, ConfigEntry> = {
    port: spec.port,
    grace: spec.grace,
    peers: spec.peers,
    kubeconfig: spec.kubeconfig,
    token: { env: "WEFT_TOKEN", type: "string", why: "Bootstrap token." },
  };
  assert.equal(
    describeConfig(entries),
    [
      "| variable | form | default | why |",
      "|---|---|---|---|",
      "| `WEFT_PORT` | a port 0..65535 | `15020` | Metrics \\| scrape port. |",
      "| `WEFT_GRACE` | a duration like 500ms, 10s, 5m or 1h30m 0..1m | `5s` | Drain. |",
      "| `WEFT_PEERS` | a comma-separated list | `a,b` | Peers. |",
      "| `WEFT_KUBECONFIG` | a string | `(unset)` | Kubeconfig path. |",
      "| `WEFT_TOKEN` | a string | `(required)` | Bootstrap token. |",
      "",
    ].join("\n"),
  );
});
