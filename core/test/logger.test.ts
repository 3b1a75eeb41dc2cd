import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Writable } from "node:stream";
import { createLogger, weftError, type LogLevel } from "@weft/core";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

void test("writes one JSON object per line with component, level name and ISO time", () => {
  const out = capture();
  const log = createLogger({ name: "ztunnel", destination: out.stream });
  log.info({ port: 15008 }, "listening");
  const [line, ...rest] = out.lines();
  assert.equal(rest.length, 0);
  assert.ok(line);
  assert.equal(line.component, "ztunnel");
  assert.equal(line.level, "info");
  assert.equal(line.msg, "listening");
  assert.equal(line.port, 15008);
  assert.equal(typeof line.time, "string");
  assert.equal(new Date(line.time as string).toISOString(), line.time);
  assert.equal(line.pid, undefined, "base replaces pino's pid/hostname");
});

void test("child loggers add bindings and keep the component", () => {
  const out = capture();
  const log = createLogger({ name: "waypoint", destination: out.stream });
  log.child({ conn: 7 }).child({ stream: 3 }).warn("reset");
  assert.deepEqual(
    out.lines().map(({ component, level, conn, stream, msg }) => ({ component, level, conn, stream, msg })),
    [{ component: "waypoint", level: "warn", conn: 7, stream: 3, msg: "reset" }],
  );
});

void test("the level filters lines", () => {
  const table: { level: LogLevel | undefined; want: string[] }[] = [
    { level: undefined, want: ["info", "warn", "error"] },
    { level: "debug", want: ["debug", "info", "warn", "error"] },
    { level: "warn", want: ["warn", "error"] },
    { level: "silent", want: [] },
  ];
  for (const { level, want } of table) {
    const out = capture();
    const log = createLogger({ name: "c", destination: out.stream, ...(level ? { level } : {}) });
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    assert.deepEqual(
      out.lines().map((l) => l.level),
      want,
      String(level),
    );
  }
});

void test("errors logged as err keep the WeftError code, fix and details", () => {
  const out = capture();
  const log = createLogger({ name: "controller", destination: out.stream });
  const err = weftError("WEFT_E_TLS", "peer certificate expired", { peer: "10.0.0.2" });
  log.error({ err }, "handshake failed");
  const [line] = out.lines();
  const logged = line?.err as Record<string, unknown>;
  assert.equal(logged.code, "WEFT_E_TLS");
  assert.equal(logged.message, err.message);
  assert.equal(logged.fix, err.fix);
  assert.deepEqual(logged.details, { peer: "10.0.0.2" });
  assert.equal(typeof logged.stack, "string");
});

void test("changing a logger's level at runtime also applies to its existing children", () => {
  // The admin endpoint (:15000) changes the root level; per-connection children must follow.
  const out = capture();
  const root = createLogger({ name: "ztunnel", destination: out.stream });
  const conn = root.child({ conn: 1 });
  conn.debug("hidden");
  root.level = "debug";
  conn.debug("shown");
  assert.deepEqual(
    out.lines().map((l) => l.msg),
    ["shown"],
  );
});

void test("batched stdout: every line arrives, in order, also when the process exits right after", () => {
  // A child process, because the batched destination is stdout itself.
  const logger = new URL("../src/index.js", import.meta.url).href;
  const script = (ending: string): string =>
    `const { createLogger } = await import(${JSON.stringify(logger)});
     const log = createLogger({ name: "t", batched: true });
     for (let i = 0; i < 500; i++) log.info({ i }, "line");
     setTimeout(() => { log.warn({ i: 500 }, "later"); ${ending} }, 5);`;
  for (const ending of ["", "process.exit(0);", "log.info({ i: 501 }, 'last'); process.exit(3);"]) {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script(ending)], {
      encoding: "utf8",
    });
    const seen = r.stdout
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => (JSON.parse(l) as { i: number }).i);
    const want = ending.includes("last") ? 502 : 501;
    assert.deepEqual(
      seen,
      Array.from({ length: want }, (_, i) => i),
      `ending ${JSON.stringify(ending)}: ${r.stderr}`,
    );
  }
});
