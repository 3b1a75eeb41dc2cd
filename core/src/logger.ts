// Structured JSON-lines logging on pino: one line per event, `component` on every line so logs of
// ztunnel, waypoint and controller can share one pipeline, ISO timestamps for humans and Loki alike.
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
  if (dest === undefined) return pino(config);
  return pino(config, typeof dest === "number" ? pino.destination({ dest, sync: true }) : dest);
}
