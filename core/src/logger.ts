// Structured JSON-lines logging on pino: one line per event, `component` on every line so logs of
// ztunnel, waypoint and controller can share one pipeline, ISO timestamps for humans and Loki alike.
import { writeSync } from "node:fs";
import { pino } from "pino";
import type { EnumEntry } from "./config.js";

export type Logger = pino.Logger;
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
export const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** The WEFT_LOG_LEVEL entry every package puts in its config spec: `{ logLevel: LOG_LEVEL_CONFIG }`. */
export const LOG_LEVEL_CONFIG = {
  env: "WEFT_LOG_LEVEL",
  type: "enum",
  values: LOG_LEVELS,
  default: "info",
  why: "Minimum level written to stdout; debug and trace are verbose on the data path.",
} as const satisfies EnumEntry<LogLevel>;

export interface LoggerOptions {
  /** The component name, written as `component` on every line (e.g. "ztunnel"). */
  name: string;
  /** Defaults to "info". Each package reads it from WEFT_LOG_LEVEL in its config.ts. */
  level?: LogLevel;
  /** Where lines go: a stream (tests capture lines this way) or a file descriptor. Default stdout. */
  destination?: pino.DestinationStream | number;
  /**
   * Write stdout (the default destination) once per event-loop iteration instead of once per line:
   * for processes that log per connection (ztunnel's access log), where a write per line was
   * 8–11 % of the connection path (docs/perf/l4-hot-path.md). A line still goes out in the
   * iteration that logged it, so nothing waits on a timer; pending lines are written at exit.
   */
  batched?: boolean;
}

/**
 * A root logger. Use `logger.child({ conn: id })` for per-connection or per-stream context, and
 * log errors as `logger.error({ err }, "what failed")` so WeftError code, fix and details are kept.
 */
export function createLogger(options: LoggerOptions): Logger {
  const config: pino.LoggerOptions = {
    level: options.level ?? "info",
    base: { component: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Level as its name ("warn"), not pino's number: readable without a lookup table.
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  const dest = options.destination;
  if (dest === undefined && options.batched === true) return pino(config, batchedStdout());
  if (dest === undefined) return pino(config);
  return pino(config, typeof dest === "number" ? pino.destination({ dest, sync: true }) : dest);
}

/**
 * stdout as pino's default (sonic-boom, asynchronous, one write in flight and the rest queued
 * behind it), fed one string per event-loop iteration: the lines logged in one iteration are
 * joined and handed over from setImmediate, so a burst of connections costs one write, not one
 * per line.
 */
function batchedStdout(): pino.DestinationStream & { flush(cb?: (err?: Error) => void): void } {
  const sonic = pino.destination({ dest: 1, sync: false, minLength: 0 });
  let pending = "";
  const handOver = (): void => {
    if (pending === "") return;
    const batch = pending;
    pending = "";
    sonic.write(batch);
  };
  // sonic-boom's own exit hook (registered just before, so it runs first) has written what it
  // held; what is left here was never handed over, and the loop will not run again.
  process.once("exit", () => {
    if (pending === "") return;
    try {
      writeSync(1, pending);
    } catch {
      // stdout is gone (EPIPE, closed): nothing left to write to.
    }
    pending = "";
  });
  return {
    write(line: string): void {
      if (pending === "") setImmediate(handOver);
      pending += line;
    },
    flush(cb?: (err?: Error) => void): void {
      handOver();
      sonic.flush(cb);
    },
  };
}
