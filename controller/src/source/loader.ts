// Reads a directory of Kubernetes YAML/JSON into validated objects, reporting every problem with
// `file:line:col`, the field path and the fix. Pure apart from reading the files.
import { readFile, readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node as YamlNode,
} from "yaml";
import { objectKey, validateObject, type PathSegment } from "../k8s/validate.js";
import type { K8sObject } from "../k8s/objects.js";

export interface SourceLocation {
  readonly file: string;
  /** 1-based line and column. */
  readonly line: number;
  readonly col: number;
}

export interface ConfigProblem extends SourceLocation {
  /** `Kind namespace/name` of the object, when known. */
  readonly object?: string;
  /** Field path inside the object, when the problem is about one field. */
  readonly path?: string;
  readonly message: string;
  readonly fix: string;
}

export interface LoadResult {
  /** Valid objects, sorted by `kind/namespace/name`. Complete only when `errors` is empty. */
  readonly objects: readonly K8sObject[];
  /** Where each object came from, by `objectKey`. */
  readonly origins: ReadonlyMap<string, SourceLocation>;
  readonly errors: readonly ConfigProblem[];
  /** Problems that do not make the directory invalid (unknown kinds, which are skipped). */
  readonly warnings: readonly ConfigProblem[];
  /** Files read, relative to the directory, sorted. */
  readonly files: readonly string[];
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;

/** `file:line:col: Kind ns/name: path: message — fix` */
export function formatProblem(p: ConfigProblem): string {
  const parts = [`${p.file}:${p.line}:${p.col}`];
  if (p.object !== undefined) parts.push(p.object);
  if (p.path !== undefined) parts.push(p.path);
  return `${parts.join(": ")}: ${p.message} — ${p.fix}`;
}

/**
 * Lists config files under `dir` recursively, sorted by relative path. Entries whose name starts
 * with "." are skipped: that also skips the `..data` / `..2024_…` links of a mounted ConfigMap,
 * whose visible files are symlinks we follow.
 */
export async function listConfigFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(sub: string): Promise<void> {
    const entries = await readdir(join(dir, sub), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const rel = sub === "" ? e.name : join(sub, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const s = await stat(join(dir, rel)).catch(() => undefined);
        isDir = s?.isDirectory() ?? false;
        isFile = s?.isFile() ?? false;
      }
      if (isDir) await walk(rel);
      else if (isFile && CONFIG_FILE.test(e.name)) out.push(rel);
    }
  }
  await walk("");
  return out.sort();
}

/** Position of the deepest node along `segments` (the key for map entries), 0-based offset. */
export function locate(doc: Document, segments: readonly PathSegment[]): number {
  let node: unknown = doc.contents;
  let offset = doc.contents?.range?.[0] ?? 0;
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (!pair) break;
      const keyRange = isScalar(pair.key) ? pair.key.range : undefined;
      if (keyRange) offset = keyRange[0];
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      const item: unknown = node.items[seg];
      if (item === undefined) break;
      const r = (item as YamlNode).range;
      if (r) offset = r[0];
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

interface Collected {
  object: K8sObject;
  at: SourceLocation;
}

/** One file's validated objects and problems. */
export interface ParsedFile {
  readonly objects: readonly Collected[];
  readonly errors: readonly ConfigProblem[];
  readonly warnings: readonly ConfigProblem[];
}

/**
 * The parsed files of the last load, by path, with the text each was parsed from. A reload still
 * reads every file (cheap, and immune to coarse mtimes and to editors that keep the mtime), but
 * parses and validates only those whose text changed: YAML parsing is most of a reload's cost, and
 * a directory of thousands of objects usually changes one file at a time. Objects of an unchanged
 * file come back as the same JavaScript objects, which the source's interning then finds at once.
 */
export class ParseCache {
  readonly #files = new Map<string, { text: string; parsed: ParsedFile }>();
  /** Files parsed / reused, since the cache was made (tests and debugging). */
  parsed = 0;
  reused = 0;

  parse(file: string, text: string): ParsedFile {
    const hit = this.#files.get(file);
    if (hit !== undefined && hit.text === text) {
      this.reused++;
      return hit.parsed;
    }
    this.parsed++;
    const parsed = parseConfigText(file, text);
    this.#files.set(file, { text, parsed });
    return parsed;
  }

  /** Forgets files not in `seen` (deleted or renamed since). */
  retain(seen: ReadonlySet<string>): void {
    for (const file of this.#files.keys()) if (!seen.has(file)) this.#files.delete(file);
  }
}

/** Parses one file's text into validated objects and problems. */
export function parseConfigText(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const objects: Collected[] = [];
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  // A stream with no documents (e.g. only comments, or an error before the first document) comes
  // back as an EmptyStream carrying stream-level errors.
  const docList: Document[] = docs;
  if ("empty" in docs) {
    for (const e of docs.errors) {
      errors.push({
        ...at(e.pos[0]),
        message: `invalid YAML: ${firstLine(e.message)}`,
        fix: "correct the YAML syntax",
      });
    }
  }
  for (const doc of docList) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        errors.push({
          ...at(e.pos[0]),
          message: `invalid YAML: ${firstLine(e.message)}`,
          fix: "correct the YAML syntax (indentation, quoting, brackets) at this position",
        });
      }
      continue;
    }
    if (doc.contents === null) continue; // an empty document, e.g. a trailing `---`
    const raw: unknown = doc.toJS({ maxAliasCount: 100 });
    if (raw === null || raw === undefined) continue;
    // `kind: List` wraps items the way `kubectl get -o yaml` prints them.
    const isList =
      typeof raw === "object" &&
      !Array.isArray(raw) &&
      (raw as Record<string, unknown>)["kind"] === "List" &&
      Array.isArray((raw as Record<string, unknown>)["items"]);
    const items: { value: unknown; prefix: PathSegment[] }[] = isList
      ? ((raw as Record<string, unknown>)["items"] as unknown[]).map((value, i) => ({
          value,
          prefix: ["items", i],
        }))
      : [{ value: raw, prefix: [] }];
    for (const { value, prefix } of items) {
      const objectStart = at(locate(doc, prefix));
      const label = describe(value);
      const result = validateObject(value);
      if (result.ok) {
        objects.push({ object: result.object, at: objectStart });
        continue;
      }
      for (const p of result.problems) {
        const problem: ConfigProblem = {
          ...at(locate(doc, [...prefix, ...p.segments])),
          ...(label === undefined ? {} : { object: label }),
          path: p.path,
          message: p.message,
          fix: p.fix,
        };
        (result.unknownKind ? warnings : errors).push(problem);
      }
    }
  }
  return { objects, errors, warnings };
}

function firstLine(s: string): string {
  const nl = s.indexOf("\n");
  return nl < 0 ? s : s.slice(0, nl);
}

function describe(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const kind = typeof v.kind === "string" ? v.kind : "(no kind)";
  const name = typeof v.metadata?.name === "string" ? v.metadata.name : "(no name)";
  const ns = typeof v.metadata?.namespace === "string" ? `${v.metadata.namespace}/` : "";
  return `${kind} ${ns}${name}`;
}

/**
 * Loads every `*.yaml|*.yml|*.json` under `dir` (recursively, sorted), validates each object by
 * kind, and reports duplicates across or within files. Unknown kinds are warnings (skipped).
 * Never throws for content problems; an unreadable directory is reported as an error too.
 */
export async function loadConfigDir(dir: string, cache?: ParseCache): Promise<LoadResult> {
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  let files: string[];
  try {
    files = await listConfigFiles(dir);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return {
      objects: [],
      origins: new Map(),
      files: [],
      warnings: [],
      errors: [
        {
          file: dir,
          line: 1,
          col: 1,
          message: `cannot read the config directory: ${err.code ?? err.message}`,
          fix: "check that --config-dir names an existing directory the controller may read",
        },
      ],
    };
  }
  const byKey = new Map<string, Collected>();
  const seen = new Set<string>();
  for (const rel of files) {
    const file = join(dir, rel);
    seen.add(file);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      // A file removed between listing and reading is a normal race during edits; the watcher reloads.
      const err = e as NodeJS.ErrnoException;
      if (err.code === "ENOENT") continue;
      errors.push({
        file,
        line: 1,
        col: 1,
        message: `cannot read file: ${err.code ?? err.message}`,
        fix: "check its permissions",
      });
      continue;
    }
    const parsed = cache !== undefined ? cache.parse(file, text) : parseConfigText(file, text);
    errors.push(...parsed.errors);
    warnings.push(...parsed.warnings);
    for (const c of parsed.objects) {
      const key = objectKey(c.object);
      const first = byKey.get(key);
      if (first) {
        errors.push({
          ...c.at,
          object: key,
          message: `duplicate object: ${key} is also defined at ${relativeTo(dir, first.at)}`,
          fix: `keep one definition; remove it from ${relativeTo(dir, c.at)} or from ${relativeTo(dir, first.at)}`,
        });
        continue;
      }
      byKey.set(key, c);
    }
  }
  cache?.retain(seen);
  const meshConfigs = [...byKey.values()].filter((c) => c.object.kind === "WeftMeshConfig");
  if (meshConfigs.length > 1) {
    for (const c of meshConfigs.slice(1)) {
      errors.push({
        ...c.at,
        object: objectKey(c.object),
        message: `more than one WeftMeshConfig (the first is ${objectKey(meshConfigs[0]!.object)} at ${relativeTo(dir, meshConfigs[0]!.at)})`,
        fix: "keep a single WeftMeshConfig in the config directory",
      });
    }
  }
  const seenTokens = new Map<string, SourceLocation>();
  for (const c of byKey.values()) {
    if (c.object.kind !== "WeftTokenList") continue;
    for (const t of c.object.tokens) {
      const prior = seenTokens.get(t.token);
      if (prior) {
        errors.push({
          ...c.at,
          object: objectKey(c.object),
          message: `the same token is listed twice (also at ${relativeTo(dir, prior)})`,
          fix: "give every identity its own token",
        });
      } else {
        seenTokens.set(t.token, c.at);
      }
    }
  }
  const keys = [...byKey.keys()].sort();
  return {
    objects: keys.map((k) => byKey.get(k)!.object),
    origins: new Map(keys.map((k) => [k, byKey.get(k)!.at])),
    errors,
    warnings,
    files,
  };
}

function relativeTo(dir: string, at: SourceLocation): string {
  return `${relative(dir, at.file) || at.file}:${at.line}`;
}
