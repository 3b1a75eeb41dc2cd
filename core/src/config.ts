// Typed environment reader. Each package declares its variables once (name, type, default, why);
// `readConfig` turns the environment into a typed object and `describeConfig` into docs.
//
// Hand-written rather than zod: the spec is itself the documentation (`why`, the expected form in
// errors and docs), env values are always strings needing env-specific forms (durations, comma
// lists, 1/yes/on booleans), and every bad variable must be reported at once with its expected
// form. Expressing that through zod would mean a schema plus a parallel doc table per variable,
// and a dependency in core that every package inherits, for ~150 lines of plain code.
import { weftError } from "./errors.js";

interface EntryBase {
  /** The environment variable, e.g. "WEFT_LOG_LEVEL". */
  readonly env: string;
  /** Why the variable exists and what changing it does; shown in generated docs. */
  readonly why: string;
  /**
   * Without a default a variable is required (unset fails), unless `optional: true`, which yields
   * `undefined` when unset.
   */
  readonly optional?: boolean;
}

export interface StringEntry extends EntryBase {
  readonly type: "string";
  readonly default?: string;
}
export interface IntEntry extends EntryBase {
  readonly type: "int";
  readonly default?: number;
  readonly min?: number;
  readonly max?: number;
}
export interface BoolEntry extends EntryBase {
  readonly type: "bool";
  readonly default?: boolean;
}
/** Read as milliseconds: "500ms", "10s", "5m", "1h", "1m30s". A numeric default is milliseconds. */
export interface DurationEntry extends EntryBase {
  readonly type: "duration";
  readonly default?: string | number;
  /** Bounds in milliseconds. */
  readonly min?: number;
  readonly max?: number;
}
export interface EnumEntry<V extends string = string> extends EntryBase {
  readonly type: "enum";
  readonly values: readonly V[];
  readonly default?: NoInfer<V>;
}
/** Comma separated; items are trimmed and empty items dropped. */
export interface ListEntry extends EntryBase {
  readonly type: "list";
  readonly default?: readonly string[];
}
/** A TCP/UDP port, 0–65535 (0 lets the OS pick, used by tests). */
export interface PortEntry extends EntryBase {
  readonly type: "port";
  readonly default?: number;
}

export type ConfigEntry =
  StringEntry | IntEntry | BoolEntry | DurationEntry | EnumEntry | ListEntry | PortEntry;
export type ConfigSpec = Readonly<Record<string, ConfigEntry>>;

type EntryValue<E> = E extends { readonly type: "string" }
  ? string
  : E extends { readonly type: "int" | "port" | "duration" }
    ? number
    : E extends { readonly type: "bool" }
      ? boolean
      : E extends { readonly type: "enum"; readonly values: readonly (infer V)[] }
        ? V
        : E extends { readonly type: "list" }
          ? string[]
          : never;

/** The object `readConfig(spec)` returns: one typed field per spec key. */
export type ConfigOf<S extends ConfigSpec> = {
  readonly [K in keyof S]: S[K] extends { readonly optional: true }
    ? EntryValue<S[K]> | undefined
    : EntryValue<S[K]>;
};

/** Declares a spec separately from reading it, keeping enum literals for the result type. */
export function defineConfig<const S extends ConfigSpec>(spec: S): S {
  return spec;
}

export type Env = Readonly<Record<string, string | undefined>>;

interface Problem {
  env: string;
  value: string;
  expected: string;
}

/**
 * Reads every variable of `spec` from `env`. Throws one WEFT_E_CONFIG error naming every invalid
 * or missing variable with its expected form. Empty values count as unset, except for string and
 * list variables, where "" is a deliberate empty value.
 */
export function readConfig<const S extends ConfigSpec>(spec: S, env: Env = process.env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: Problem[] = [];
  for (const [key, entry] of Object.entries(spec)) {
    const raw = env[entry.env];
    const unset = raw === undefined || (raw === "" && entry.type !== "string" && entry.type !== "list");
    if (unset) {
      if (entry.default !== undefined) {
        out[key] = defaultValue(entry);
      } else if (entry.optional === true) {
        out[key] = undefined;
      } else {
        problems.push({ env: entry.env, value: "(unset)", expected: `set: ${expectedForm(entry)}` });
      }
      continue;
    }
    const parsed = parseValue(entry, raw);
    if (parsed.ok) out[key] = parsed.value;
    else problems.push({ env: entry.env, value: JSON.stringify(raw), expected: expectedForm(entry) });
  }
  if (problems.length > 0) {
    const list = problems.map((p) => `${p.env}=${p.value} (expected ${p.expected})`).join("; ");
    throw weftError(
      "WEFT_E_CONFIG",
      `${problems.length} invalid environment variable${problems.length === 1 ? "" : "s"}: ${list}`,
      { problems },
    );
  }
  return out as ConfigOf<S>;
}

// A default is checked like a value from the environment: a spec whose default its own reader
// would reject is a bug in the spec, and must fail at startup rather than run with it.
function defaultValue(entry: ConfigEntry): unknown {
  const d = entry.default;
  if (entry.type === "list") return [...(entry.default ?? [])];
  const raw = entry.type === "duration" && typeof d === "number" ? formatDuration(d) : String(d);
  const parsed = parseValue(entry, raw);
  if (!parsed.ok || (entry.type !== "duration" && parsed.value !== d)) {
    throw weftError(
      "WEFT_E_INTERNAL",
      `config spec for ${entry.env} has default ${JSON.stringify(d)}, which is not ${expectedForm(entry)}`,
    );
  }
  return parsed.value;
}

type Parsed = { ok: true; value: unknown } | { ok: false };
const BAD: Parsed = { ok: false };

function parseValue(entry: ConfigEntry, raw: string): Parsed {
  switch (entry.type) {
    case "string":
      return { ok: true, value: raw };
    case "int": {
      const n = parseInteger(raw);
      return n !== undefined && inRange(n, entry.min, entry.max) ? { ok: true, value: n } : BAD;
    }
    case "port": {
      const n = parseInteger(raw);
      return n !== undefined && inRange(n, 0, 65535) ? { ok: true, value: n } : BAD;
    }
    case "duration": {
      const ms = parseDuration(raw);
      return ms !== undefined && inRange(ms, entry.min, entry.max) ? { ok: true, value: ms } : BAD;
    }
    case "bool": {
      const v = raw.trim().toLowerCase();
      if (TRUE_WORDS.has(v)) return { ok: true, value: true };
      if (FALSE_WORDS.has(v)) return { ok: true, value: false };
      return BAD;
    }
    case "enum":
      return entry.values.includes(raw) ? { ok: true, value: raw } : BAD;
    case "list":
      return { ok: true, value: parseList(raw) };
  }
}

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

function parseInteger(raw: string): number | undefined {
  const s = raw.trim();
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

function inRange(n: number, min: number | undefined, max: number | undefined): boolean {
  return (min === undefined || n >= min) && (max === undefined || n <= max);
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/**
 * Parses "500ms", "10s", "1.5m", "1h30m" into whole milliseconds; "0" alone is zero. A bare number
 * other than 0 is rejected: "10" could mean seconds or milliseconds.
 */
export function parseDuration(raw: string): number | undefined {
  const s = raw.trim();
  if (s === "0") return 0;
  if (!DURATION_RE.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(DURATION_PART_RE)) {
    ms += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? Number.NaN);
  }
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Formats milliseconds the way `parseDuration` reads them: 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  let rest = Math.round(ms);
  let out = "";
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}

function parseList(raw: string): string[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function rangeText(min: number | undefined, max: number | undefined, fmt: (n: number) => string): string {
  if (min !== undefined && max !== undefined) return ` ${fmt(min)}..${fmt(max)}`;
  if (min !== undefined) return ` >= ${fmt(min)}`;
  if (max !== undefined) return ` <= ${fmt(max)}`;
  return "";
}

/** The expected form of a variable, in words, as shown in errors and docs. */
export function expectedForm(entry: ConfigEntry): string {
  switch (entry.type) {
    case "string":
      return "a string";
    case "int":
      return `an integer${rangeText(entry.min, entry.max, String)}`;
    case "port":
      return "a port 0..65535";
    case "duration":
      return `a duration like 500ms, 10s, 5m or 1h30m${rangeText(entry.min, entry.max, formatDuration)}`;
    case "bool":
      return "true/false (also 1/0, yes/no, on/off)";
    case "enum":
      return `one of ${entry.values.join(", ")}`;
    case "list":
      return "a comma-separated list";
  }
}

function defaultText(entry: ConfigEntry): string {
  if (entry.default === undefined) return entry.optional === true ? "(unset)" : "(required)";
  if (entry.type === "duration" && typeof entry.default === "number") return formatDuration(entry.default);
  if (entry.type === "list") return (entry.default ?? []).join(",") || '""';
  if (entry.type === "string" && entry.default === "") return '""';
  return String(entry.default);
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** A Markdown table documenting every variable of `spec`, for generated docs. */
export function describeConfig(spec: ConfigSpec): string {
  const rows = Object.values(spec).map(
    (e) => `| \`${e.env}\` | ${cell(expectedForm(e))} | \`${cell(defaultText(e))}\` | ${cell(e.why)} |`,
  );
  return ["| variable | form | default | why |", "|---|---|---|---|", ...rows].join("\n") + "\n";
}
