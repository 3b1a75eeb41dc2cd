import { test } from "node:test";
import assert from "node:assert/strict";
import { ERROR_CODES, WeftError, isWeftError, weftError, type WeftErrorCode } from "@weft/core";

// Every code ever published. Codes may be added to ERROR_CODES but never removed or renamed:
// operators' alerts and runbooks match on them. Append here when adding a code.
const PUBLISHED: readonly string[] = [
  "WEFT_E_INVALID_INPUT",
  "WEFT_E_CONFIG",
  "WEFT_E_PERMISSION",
  "WEFT_E_NOT_FOUND",
  "WEFT_E_CONFLICT",
  "WEFT_E_UNAVAILABLE",
  "WEFT_E_INTERNAL",
  "WEFT_E_TIMEOUT",
  "WEFT_E_TOPOLOGY",
  "WEFT_E_CAPABILITY",
  "WEFT_E_NAME_COLLISION",
  "WEFT_E_BPF",
  "WEFT_E_NETNS",
  "WEFT_E_XDS_NACK",
  "WEFT_E_CA_UNAUTHENTICATED",
  "WEFT_E_CA_PERMISSION_DENIED",
  "WEFT_E_CA_BAD_CSR",
  "WEFT_E_TLS",
  "WEFT_E_DRAIN_TIMEOUT",
  "WEFT_E_PROTOCOL",
  "WEFT_E_DENIED",
  "WEFT_E_PORT_IN_USE",
  "WEFT_E_UNSUPPORTED",
  "WEFT_E_ABORTED",
];

void test("no published code was removed or renamed, and new codes are listed as published", () => {
  const current = Object.keys(ERROR_CODES);
  for (const code of PUBLISHED) assert.ok(current.includes(code), `${code} was removed or renamed`);
  for (const code of current) assert.ok(PUBLISHED.includes(code), `${code} is new: append it to PUBLISHED`);
});

void test("every code is well formed and documents a summary and a fix", () => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^WEFT_E_[A-Z0-9_]+$/);
    assert.ok(info.summary.length > 10, `${code} summary`);
    assert.ok(info.fix.length > 10, `${code} fix`);
  }
});

void test("message is `<code>: <cause> — <fix>` with the registry fix by default", () => {
  const err = weftError("WEFT_E_NOT_FOUND", "no workload with uid abc");
  assert.ok(err instanceof Error);
  assert.ok(err instanceof WeftError);
  assert.equal(err.name, "WeftError");
  assert.equal(err.code, "WEFT_E_NOT_FOUND");
  assert.equal(err.reason, "no workload with uid abc");
  assert.equal(err.fix, ERROR_CODES.WEFT_E_NOT_FOUND.fix);
  assert.equal(
    err.message,
    `WEFT_E_NOT_FOUND: no workload with uid abc — ${ERROR_CODES.WEFT_E_NOT_FOUND.fix}`,
  );
  assert.equal(err.details, undefined);
  assert.equal(err.cause, undefined);
  assert.ok(err.stack?.includes("errors.test"), "stack points at the throw site");
});

void test("a specific fix, details and the underlying error are kept", () => {
  const errno = Object.assign(new Error("EPERM: operation not permitted"), { code: "EPERM" });
  const err = weftError(
    "WEFT_E_BPF",
    "cannot attach sk_lookup to /proc/123/ns/net: EPERM",
    { pid: 123 },
    { fix: "run with CAP_BPF and CAP_NET_ADMIN", cause: errno },
  );
  assert.equal(
    err.message,
    "WEFT_E_BPF: cannot attach sk_lookup to /proc/123/ns/net: EPERM — run with CAP_BPF and CAP_NET_ADMIN",
  );
  assert.deepEqual(err.details, { pid: 123 });
  assert.equal(err.cause, errno);
});

void test("toJSON gives structured logs the code, cause, fix, details and nested causes", () => {
  const inner = weftError("WEFT_E_TIMEOUT", "controller did not answer in 10s");
  const errno = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const cases: { err: WeftError; want: Record<string, unknown> }[] = [
    {
      err: new WeftError("WEFT_E_CONFIG", "bad", { details: { env: "WEFT_X" } }),
      want: {
        name: "WeftError",
        code: "WEFT_E_CONFIG",
        message: `WEFT_E_CONFIG: bad — ${ERROR_CODES.WEFT_E_CONFIG.fix}`,
        reason: "bad",
        fix: ERROR_CODES.WEFT_E_CONFIG.fix,
        details: { env: "WEFT_X" },
      },
    },
    {
      err: new WeftError("WEFT_E_UNAVAILABLE", "xDS stream lost", { cause: inner, fix: "wait" }),
      want: {
        name: "WeftError",
        code: "WEFT_E_UNAVAILABLE",
        message: "WEFT_E_UNAVAILABLE: xDS stream lost — wait",
        reason: "xDS stream lost",
        fix: "wait",
        cause: inner.toJSON(),
      },
    },
    {
      err: new WeftError("WEFT_E_UNAVAILABLE", "down", { cause: errno, fix: "start it" }),
      want: {
        name: "WeftError",
        code: "WEFT_E_UNAVAILABLE",
        message: "WEFT_E_UNAVAILABLE: down — start it",
        reason: "down",
        fix: "start it",
        cause: { name: "Error", message: "connect ECONNREFUSED", code: "ECONNREFUSED" },
      },
    },
  ];
  for (const { err, want } of cases) {
    assert.deepEqual(JSON.parse(JSON.stringify(err)), want);
  }
});

void test("isWeftError checks the class and optionally the code", () => {
  const err = weftError("WEFT_E_CONFLICT", "port taken");
  const table: { value: unknown; code?: WeftErrorCode; want: boolean }[] = [
    { value: err, want: true },
    { value: err, code: "WEFT_E_CONFLICT", want: true },
    { value: err, code: "WEFT_E_CONFIG", want: false },
    { value: new Error("WEFT_E_CONFLICT: port taken"), want: false },
    { value: { code: "WEFT_E_CONFLICT" }, want: false },
    { value: undefined, want: false },
  ];
  for (const { value, code, want } of table) assert.equal(isWeftError(value, code), want);
});
