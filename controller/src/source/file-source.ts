// Serves config snapshots from a directory (`weft-controller --config-dir`). A change is applied
// only when the whole directory is valid again; until then the previous snapshot stays in effect,
// so a half-saved file never takes policy away from the data plane.
import { createHash } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import {
  loadConfigDir,
  formatProblem,
  ParseCache,
  type ConfigProblem,
  type LoadResult,
  type SourceLocation,
} from "./loader.js";
import { meshSettingsOf, tokensOf, type MeshSettings, type ConfigToken } from "../k8s/mesh.js";
import type { K8sObject } from "../k8s/objects.js";

export interface ConfigSnapshot {
  /** Increments with every snapshot this source emits, starting at 1. */
  readonly version: number;
  /** sha256 over the objects' canonical JSON; equal hashes mean equal content. */
  readonly hash: string;
  readonly objects: readonly K8sObject[];
  readonly origins: ReadonlyMap<string, SourceLocation>;
  readonly mesh: MeshSettings;
  readonly tokens: readonly ConfigToken[];
  readonly warnings: readonly ConfigProblem[];
}

/** The subset of a pino logger FileSource writes to. */
export interface SourceLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface FileSourceOptions {
  readonly dir: string;
  /** Quiet time after the last file event before reloading (ms). */
  readonly debounceMs?: number;
  /**
   * Reload interval when `fs.watch` is unavailable or `forcePolling` is set (ms). Polling reloads
   * and compares hashes, which is cheap for config directories of hundreds of objects.
   */
  readonly pollIntervalMs?: number;
  readonly forcePolling?: boolean;
  readonly logger?: SourceLogger;
}

export type SnapshotListener = (snapshot: ConfigSnapshot) => void;
export type InvalidListener = (errors: readonly ConfigProblem[], result: LoadResult) => void;

// Objects are immutable once loaded, and the parse cache hands an unchanged file's objects over
// again as the same objects: their canonical JSON is computed once, not on every reload.
const canonicalJsonOf = new WeakMap<object, string>();

function canonicalJson(value: object): string {
  let json = canonicalJsonOf.get(value);
  if (json === undefined) {
    json = sortedJson(value);
    canonicalJsonOf.set(value, json);
  }
  return json;
}

function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

export function hashObjects(objects: readonly K8sObject[]): string {
  return internObjects(new Map(), objects).hash;
}

/**
 * The snapshot's hash, and its objects with every object equal to one of `previous` (by canonical
 * JSON) replaced by that same JavaScript object. A reload re-parses every changed file, and an
 * edited file may still hold mostly unchanged objects; handing those over unchanged lets the
 * incremental translator see that only one pod changed.
 */
export function internObjects(
  previous: ReadonlyMap<string, K8sObject>,
  objects: readonly K8sObject[],
): { hash: string; objects: K8sObject[]; byJson: Map<string, K8sObject> } {
  const hash = createHash("sha256");
  const byJson = new Map<string, K8sObject>();
  const out = objects.map((o) => {
    const json = canonicalJson(o);
    hash.update(json).update("\n");
    const same = previous.get(json) ?? o;
    byJson.set(json, same);
    return same;
  });
  return { hash: hash.digest("hex"), objects: out, byJson };
}

export class FileSource {
  readonly #dir: string;
  readonly #debounceMs: number;
  readonly #pollIntervalMs: number;
  readonly #forcePolling: boolean;
  readonly #logger: SourceLogger | undefined;
  /** The current snapshot's objects by canonical JSON (internObjects). */
  #interned: ReadonlyMap<string, K8sObject> = new Map();
  readonly #parseCache = new ParseCache();
  readonly #snapshotListeners = new Set<SnapshotListener>();
  readonly #invalidListeners = new Set<InvalidListener>();
  #current: ConfigSnapshot | undefined;
  #lastErrors: readonly ConfigProblem[] = [];
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  #closed = false;

  constructor(opts: FileSourceOptions) {
    this.#dir = opts.dir;
    this.#debounceMs = opts.debounceMs ?? 50;
    this.#pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.#forcePolling = opts.forcePolling ?? false;
    this.#logger = opts.logger;
  }

  /** The last valid snapshot, or undefined if the directory has never been valid. */
  current(): ConfigSnapshot | undefined {
    return this.#current;
  }

  /** Errors of the last load (empty when the directory is valid). */
  lastErrors(): readonly ConfigProblem[] {
    return this.#lastErrors;
  }

  onSnapshot(listener: SnapshotListener): () => void {
    this.#snapshotListeners.add(listener);
    return () => this.#snapshotListeners.delete(listener);
  }

  onInvalid(listener: InvalidListener): () => void {
    this.#invalidListeners.add(listener);
    return () => this.#invalidListeners.delete(listener);
  }

  /**
   * Loads the directory once and starts watching it. Resolves with the first snapshot, or
   * undefined when the directory is invalid (the errors went to `onInvalid` listeners and the
   * log); the source keeps watching and emits once the directory becomes valid.
   */
  async start(): Promise<ConfigSnapshot | undefined> {
    await this.reload();
    if (this.#closed) return this.#current;
    if (!this.#forcePolling) {
      try {
        // Recursive watch is native on Linux since Node 20; one watcher covers subdirectories.
        this.#watcher = watch(this.#dir, { recursive: true, persistent: false }, () => this.#schedule());
        this.#watcher.on("error", (err) => {
          this.#logger?.warn({ err, dir: this.#dir }, "config dir watch failed; falling back to polling");
          this.#watcher?.close();
          this.#watcher = undefined;
          this.#startPolling();
        });
      } catch (err) {
        this.#logger?.warn({ err, dir: this.#dir }, "cannot watch config dir; polling instead");
        this.#startPolling();
      }
    } else {
      this.#startPolling();
    }
    return this.#current;
  }

  #startPolling(): void {
    if (this.#poll || this.#closed) return;
    this.#poll = setInterval(() => this.#schedule(), this.#pollIntervalMs);
    this.#poll.unref();
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.reload().catch((err: unknown) => this.#logger?.error({ err }, "config reload failed"));
    }, this.#debounceMs);
  }

  /** Reloads now. Concurrent calls coalesce: at most one load runs, followed by one more. */
  async reload(): Promise<void> {
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#reloadAgain = false;
        await this.#loadOnce();
      } while (this.#reloadAgain && !this.#closed);
    })().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #loadOnce(): Promise<void> {
    const result = await loadConfigDir(this.#dir, this.#parseCache);
    if (this.#closed) return;
    for (const w of result.warnings) this.#logger?.warn({ problem: w }, formatProblem(w));
    if (result.errors.length > 0) {
      this.#lastErrors = result.errors;
      for (const e of result.errors) this.#logger?.error({ problem: e }, formatProblem(e));
      this.#logger?.error(
        { dir: this.#dir, errors: result.errors.length, servingVersion: this.#current?.version ?? null },
        "config directory is invalid; keeping the previous snapshot",
      );
      for (const l of this.#invalidListeners) l(result.errors, result);
      return;
    }
    this.#lastErrors = [];
    const { hash, objects, byJson } = internObjects(this.#interned, result.objects);
    if (this.#current?.hash === hash) return;
    this.#interned = byJson;
    const snapshot: ConfigSnapshot = {
      version: (this.#current?.version ?? 0) + 1,
      hash,
      objects,
      origins: result.origins,
      mesh: meshSettingsOf(result.objects),
      tokens: tokensOf(result.objects),
      warnings: result.warnings,
    };
    this.#current = snapshot;
    this.#logger?.info(
      {
        dir: this.#dir,
        version: snapshot.version,
        objects: snapshot.objects.length,
        files: result.files.length,
      },
      "config snapshot loaded",
    );
    for (const l of this.#snapshotListeners) l(snapshot);
  }

  /** Stops watching. Waits for a reload in progress so no listener fires afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#poll) clearInterval(this.#poll);
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#poll = undefined;
    this.#debounce = undefined;
    await this.#reloading;
  }
}
