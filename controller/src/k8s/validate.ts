// Validation of one decoded object: kind/apiVersion dispatch, then the kind's zod schema, with
// every zod issue turned into a problem naming the field path and the fix.
import type { z } from "zod";
import { FIX_SEPARATOR } from "./common.js";
import { KINDS, isKnownKind, type K8sObject } from "./objects.js";

export type PathSegment = string | number;

export interface FieldProblem {
  /** Field path as written in YAML, e.g. `spec.rules[0].from[1].source.principals[2]`. */
  readonly path: string;
  /** The same path as segments, for locating the field in the source document. */
  readonly segments: readonly PathSegment[];
  readonly message: string;
  readonly fix: string;
}

export type ValidationResult =
  | { readonly ok: true; readonly object: K8sObject }
  | { readonly ok: false; readonly unknownKind: boolean; readonly problems: readonly FieldProblem[] };

/** Formats path segments the way a person reads YAML: `spec.rules[0].from`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) out += out === "" ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out === "" ? "(object)" : out;
}

function problem(segments: readonly PathSegment[], message: string, fix: string): FieldProblem {
  return { path: formatPath(segments), segments, message, fix };
}

function splitFix(message: string): { cause: string; fix: string } | undefined {
  const at = message.indexOf(FIX_SEPARATOR);
  if (at < 0) return undefined;
  return { cause: message.slice(0, at), fix: message.slice(at + FIX_SEPARATOR.length) };
}

/** Turns one zod issue into a problem with a fix a person can apply. */
export function issueToProblem(issue: z.core.$ZodIssue, input: unknown): FieldProblem {
  const segments = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
  const where = formatPath(segments);
  const own = splitFix(issue.message);
  if (issue.code === "invalid_type" && valueAt(input, segments) === undefined) {
    const hint = own ? ` (${own.fix})` : "";
    return problem(segments, `required field is missing (expected ${issue.expected})`, `add ${where}${hint}`);
  }
  if (own) return problem(segments, own.cause, own.fix);
  switch (issue.code) {
    case "invalid_type":
      return problem(segments, `expected ${issue.expected}`, `set ${where} to a ${issue.expected}`);
    case "invalid_value":
      return problem(
        segments,
        `unsupported value`,
        `use one of: ${issue.values.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", ")}`,
      );
    case "invalid_union": {
      // Report the nested message of the first branch that carries our own fix, if any.
      for (const branch of issue.errors) {
        for (const inner of branch) {
          const f = splitFix(inner.message);
          if (f) return problem(segments, f.cause, f.fix);
        }
      }
      return problem(segments, "value has the wrong shape", `check ${where} against the documented schema`);
    }
    case "too_small":
      return problem(segments, issue.message, `give ${where} at least ${String(issue.minimum)}`);
    case "too_big":
      return problem(segments, issue.message, `give ${where} at most ${String(issue.maximum)}`);
    case "custom":
    case "invalid_element":
    case "invalid_format":
    case "invalid_key":
    case "not_multiple_of":
    case "unrecognized_keys":
      return problem(segments, issue.message, `correct ${where}`);
  }
}

function valueAt(input: unknown, segments: readonly PathSegment[]): unknown {
  let v = input;
  for (const s of segments) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}

/**
 * Validates one decoded object. Unknown kinds are reported with `unknownKind: true` so callers
 * can skip them with a warning instead of failing. Namespaced objects without a namespace get
 * `default`, as kubectl applies them.
 */
export function validateObject(raw: unknown): ValidationResult {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return {
      ok: false,
      unknownKind: false,
      problems: [
        problem([], "not a Kubernetes object", "write a mapping with apiVersion, kind and metadata"),
      ],
    };
  }
  const obj = raw as Record<string, unknown>;
  const kind = obj["kind"];
  const apiVersion = obj["apiVersion"];
  if (typeof kind !== "string" || kind === "") {
    return {
      ok: false,
      unknownKind: false,
      problems: [problem(["kind"], "kind is missing", "add kind, e.g. kind: Pod")],
    };
  }
  if (!isKnownKind(kind)) {
    return {
      ok: false,
      unknownKind: true,
      problems: [
        problem(
          ["kind"],
          `weft does not read kind ${kind}`,
          `remove it from the config directory, or use one of: ${Object.keys(KINDS).join(", ")}`,
        ),
      ],
    };
  }
  const info = KINDS[kind];
  if (typeof apiVersion !== "string" || !info.apiVersions.includes(apiVersion)) {
    return {
      ok: false,
      unknownKind: false,
      problems: [
        problem(
          ["apiVersion"],
          `apiVersion ${typeof apiVersion === "string" ? apiVersion : "(missing)"} is not served for ${kind}`,
          `use apiVersion: ${info.apiVersions[0] ?? ""}`,
        ),
      ],
    };
  }
  const parsed = info.schema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      unknownKind: false,
      problems: parsed.error.issues.map((i) => issueToProblem(i, raw)),
    };
  }
  const object = parsed.data;
  if (info.namespaced && object.metadata.namespace === undefined) {
    object.metadata.namespace = "default";
  } else if (!info.namespaced && object.metadata.namespace !== undefined) {
    delete object.metadata.namespace;
  }
  return { ok: true, object };
}

/** `kind/namespace/name` (or `kind/name` for cluster-scoped kinds): the identity used for duplicates. */
export function objectKey(o: K8sObject): string {
  const ns = o.metadata.namespace;
  return ns === undefined ? `${o.kind}/${o.metadata.name}` : `${o.kind}/${ns}/${o.metadata.name}`;
}
