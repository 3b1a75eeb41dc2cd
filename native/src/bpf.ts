// Typed, fd-owning wrappers over the addon: BpfObject (a loaded .bpf.o), BpfProgram, BpfMap (typed
// keys/values through codecs) and BpfLink (an attachment). Every owner has an explicit close();
// a FinalizationRegistry is only a safety net that warns about the leak (and closes the fd).
import { basename } from "node:path";
import { weftError } from "@weft/core";
import {
  native,
  type LinkInfo,
  type MapHandle,
  type MapInfo,
  type ObjectHandle,
  type ObjectMapInfo,
  type ProgramInfo,
  type RodataVar,
  type TestRunOptions,
  type TestRunResult,
} from "./binding.js";
import type { Codec } from "./codecs.js";
import { wrapNative } from "./errors.js";
import { ensurePinRoot } from "./pin.js";

type Leak = { what: string; close?: () => void };

const leaks = new FinalizationRegistry<Leak>((leak) => {
  process.emitWarning(`${leak.what} was garbage-collected without close(); closing it now`, {
    code: "WEFT_NATIVE_LEAK",
    detail: "Call close() when done: an unpinned link detaches when its last fd closes.",
  });
  try {
    leak.close?.();
  } catch {
    // Already gone; nothing more a finalizer can do.
  }
});

/** .rodata values: numbers are encoded little-/host-endian to the variable's size. */
export type RodataValue = number | bigint | boolean | Uint8Array;

export interface LoadOptions {
  /** bpffs directory where maps are pinned by name and reused (e.g. /sys/fs/bpf/weft). */
  pinRoot?: string;
  /** const volatile variables to set before load. */
  rodata?: Readonly<Record<string, RodataValue>>;
}

function encodeRodata(v: RodataVar, value: RodataValue): Buffer {
  if (value instanceof Uint8Array) return Buffer.from(value);
  const b = Buffer.alloc(v.size);
  const n = typeof value === "boolean" ? (value ? 1n : 0n) : BigInt(value);
  if (n < 0n || n >= 1n << BigInt(8 * v.size)) {
    throw weftError(
      "WEFT_E_INVALID_INPUT",
      `.rodata '${v.name}' (${v.size} bytes) cannot hold ${String(value)}`,
    );
  }
  for (let i = 0; i < v.size; i++) b[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return b;
}

/** A loaded eBPF object file. Programs and maps stay valid until close(). */
export class BpfObject {
  readonly #handle: ObjectHandle;
  readonly path: string;
  readonly pinRoot: string | undefined;
  #closed = false;

  private constructor(handle: ObjectHandle, path: string, pinRoot: string | undefined) {
    this.#handle = handle;
    this.path = path;
    this.pinRoot = pinRoot;
    leaks.register(this, { what: `BpfObject ${path}` }, this);
  }

  /** Open, configure (.rodata) and load `path`; maps are pinned/reused under `pinRoot`. */
  static load(path: string, options: LoadOptions = {}): BpfObject {
    const name = basename(path);
    const pinRoot = options.pinRoot === undefined ? undefined : ensurePinRoot(options.pinRoot);
    const n = native();
    const handle = wrapNative(`cannot open bpf object ${path}`, "bpf", () =>
      n.objectOpen(path, pinRoot ?? null),
    );
    try {
      const rodata = Object.entries(options.rodata ?? {});
      if (rodata.length > 0) {
        const vars = new Map(n.objectRodataVars(handle).map((v) => [v.name, v]));
        for (const [key, value] of rodata) {
          const v = vars.get(key);
          if (v === undefined) {
            throw weftError(
              "WEFT_E_BPF",
              `${name} has no .rodata variable '${key}' (has: ${[...vars.keys()].join(", ") || "none"})`,
            );
          }
          n.objectSetRodata(handle, key, encodeRodata(v, value));
        }
      }
      wrapNative(`cannot load bpf object ${path}`, "bpf", () => n.objectLoad(handle));
    } catch (err) {
      n.objectClose(handle);
      throw err;
    }
    return new BpfObject(handle, path, pinRoot);
  }

  /** @internal the addon handle, for BpfProgram/BpfLink. */
  get handle(): ObjectHandle {
    if (this.#closed) throw weftError("WEFT_E_BPF", `bpf object ${this.path} is closed`);
    return this.#handle;
  }

  get closed(): boolean {
    return this.#closed;
  }

  programs(): ProgramInfo[] {
    return native().objectPrograms(this.handle);
  }

  maps(): ObjectMapInfo[] {
    return native().objectMaps(this.handle);
  }

  program(name: string): BpfProgram {
    const info = this.programs().find((p) => p.name === name);
    if (info === undefined) {
      throw weftError(
        "WEFT_E_BPF",
        `${basename(this.path)} has no program '${name}' (has: ${this.programs()
          .map((p) => p.name)
          .join(", ")})`,
      );
    }
    return new BpfProgram(this, info);
  }

  /** A map of this object, with its own fd (close it independently). */
  map<K, V>(name: string, codecs: MapCodecs<K, V>): BpfMap<K, V> {
    const handle = wrapNative(`cannot find map '${name}' in ${basename(this.path)}`, "bpf", () =>
      native().objectMap(this.handle, name),
    );
    return BpfMap.fromHandle(handle, codecs);
  }

  /** Unloads programs not held by a link or pin; links and pinned maps stay. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    leaks.unregister(this);
    native().objectClose(this.#handle);
  }
}

/** One program of a loaded BpfObject. */
export class BpfProgram {
  readonly object: BpfObject;
  readonly name: string;
  readonly type: string;
  readonly attachType: string;

  constructor(object: BpfObject, info: ProgramInfo) {
    this.object = object;
    this.name = info.name;
    this.type = info.type;
    this.attachType = info.attachType;
  }

  /** Attach to a cgroup v2 directory (connect4/6, sockops, getpeername, ...). */
  attachCgroup(cgroupPath: string): BpfLink {
    const fd = wrapNative(
      `cannot attach ${this.type} program ${this.name} to cgroup ${cgroupPath}`,
      "bpf",
      () => native().attachCgroup(this.object.handle, this.name, cgroupPath),
    );
    return new BpfLink(fd, `${this.name}@${cgroupPath}`);
  }

  /** Attach to a network namespace (/proc/<pid>/ns/net, /run/netns/<name>): sk_lookup. */
  attachNetns(netnsPath: string): BpfLink {
    const fd = wrapNative(`cannot attach ${this.type} program ${this.name} to ${netnsPath}`, "bpf", () =>
      native().attachNetns(this.object.handle, this.name, netnsPath),
    );
    return new BpfLink(fd, `${this.name}@${netnsPath}`);
  }

  /** BPF_PROG_TEST_RUN (only for program types the kernel can test-run, e.g. sk_lookup). */
  testRun(options: TestRunOptions): TestRunResult {
    return wrapNative(`cannot test-run ${this.type} program ${this.name}`, "bpf", () =>
      native().progTestRun(this.object.handle, this.name, options),
    );
  }
}

/** A bpf_link fd. The attachment lives while this fd is open or the link is pinned. */
export class BpfLink {
  #fd: number;
  readonly description: string;

  constructor(fd: number, description: string) {
    this.#fd = fd;
    this.description = description;
    leaks.register(
      this,
      { what: `BpfLink ${description} (fd ${fd})`, close: () => native().closeFd(fd) },
      this,
    );
  }

  /** Re-open a link pinned at `path` (after a restart). */
  static openPinned(path: string): BpfLink {
    const fd = wrapNative(`cannot open pinned link ${path}`, "bpf", () => native().linkOpenPinned(path));
    return new BpfLink(fd, path);
  }

  /** Remove a pin (of a link or map); the link detaches once no fd refers to it either. */
  static unpin(path: string): void {
    wrapNative(`cannot unpin ${path}`, "bpf", () => native().unpin(path));
  }

  get fd(): number {
    if (this.#fd < 0) throw weftError("WEFT_E_BPF", `link ${this.description} is closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Pin at `path` (inside bpffs) so the attachment outlives this process. */
  pin(path: string): void {
    wrapNative(`cannot pin link ${this.description} at ${path}`, "bpf", () =>
      native().linkPin(this.fd, path),
    );
  }

  /** Atomically replace the attached program. */
  update(program: BpfProgram): void {
    wrapNative(`cannot update link ${this.description} to ${program.name}`, "bpf", () =>
      native().linkUpdate(this.fd, program.object.handle, program.name),
    );
  }

  /** Detach now, even if pinned (the fd stays open; close() it too). */
  detach(): void {
    wrapNative(`cannot detach link ${this.description}`, "bpf", () => native().linkDetach(this.fd));
  }

  info(): LinkInfo {
    return wrapNative(`cannot read link ${this.description}`, "bpf", () => native().linkInfo(this.fd));
  }

  /** Close the fd: an unpinned link detaches. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    leaks.unregister(this);
    wrapNative(`cannot close link ${this.description}`, "bpf", () => native().closeFd(fd));
  }
}

export interface MapCodecs<K, V> {
  readonly key: Codec<K>;
  readonly value: Codec<V>;
}

export type UpdateFlag = "any" | "noexist" | "exist";
const UPDATE_FLAGS: Record<UpdateFlag, number> = { any: 0, noexist: 1, exist: 2 };

/** A map fd with typed keys and values. Sizes are checked against the kernel's map on open. */
export class BpfMap<K, V> {
  readonly #handle: MapHandle;
  readonly info: MapInfo;
  readonly #codecs: MapCodecs<K, V>;
  #closed = false;

  private constructor(handle: MapHandle, codecs: MapCodecs<K, V>) {
    this.#handle = handle;
    this.#codecs = codecs;
    this.info = native().mapInfo(handle);
    const { key, value } = codecs;
    if (
      (key.size !== undefined && key.size !== this.info.keySize) ||
      (value.size !== undefined && value.size !== this.info.valueBufSize)
    ) {
      native().mapClose(handle);
      throw weftError(
        "WEFT_E_BPF",
        `map ${this.info.name} has ${this.info.keySize}-byte keys and ${this.info.valueBufSize}-byte values, ` +
          `but its codecs expect ${key.size ?? "any"} and ${value.size ?? "any"}`,
        undefined,
        { fix: "rebuild bpf/ and @weft/native together; unpin maps left by an older version" },
      );
    }
    leaks.register(this, { what: `BpfMap ${this.info.name}` }, this);
  }

  /** @internal */
  static fromHandle<K, V>(handle: MapHandle, codecs: MapCodecs<K, V>): BpfMap<K, V> {
    return new BpfMap(handle, codecs);
  }

  static openPinned<K, V>(path: string, codecs: MapCodecs<K, V>): BpfMap<K, V> {
    const handle = wrapNative(`cannot open pinned map ${path}`, "bpf", () => native().mapOpenPinned(path));
    return new BpfMap(handle, codecs);
  }

  get #h(): MapHandle {
    if (this.#closed) throw weftError("WEFT_E_BPF", `map ${this.info.name} is closed`);
    return this.#handle;
  }

  /** @internal the addon handle (tests use it to reach the raw API). */
  get handle(): MapHandle {
    return this.#h;
  }

  lookup(key: K): V | undefined {
    const raw = wrapNative(`cannot look up in map ${this.info.name}`, "bpf", () =>
      native().mapLookup(this.#h, this.#codecs.key.encode(key)),
    );
    return raw === null ? undefined : this.#codecs.value.decode(raw);
  }

  update(key: K, value: V, flag: UpdateFlag = "any"): void {
    wrapNative(`cannot update map ${this.info.name}`, "bpf", () =>
      native().mapUpdate(
        this.#h,
        this.#codecs.key.encode(key),
        this.#codecs.value.encode(value),
        UPDATE_FLAGS[flag],
      ),
    );
  }

  /** Put a socket (by fd) into a sockhash/sockmap. */
  setSocket(key: K, socketFd: number, flag: UpdateFlag = "any"): void {
    wrapNative(`cannot put socket fd ${socketFd} into map ${this.info.name}`, "bpf", () =>
      native().mapSockUpdate(this.#h, this.#codecs.key.encode(key), socketFd, UPDATE_FLAGS[flag]),
    );
  }

  /** Returns false when there was no such key. */
  delete(key: K): boolean {
    return wrapNative(`cannot delete from map ${this.info.name}`, "bpf", () =>
      native().mapDelete(this.#h, this.#codecs.key.encode(key)),
    );
  }

  /**
   * Lookup and delete, in one syscall where the kernel has BPF_MAP_LOOKUP_AND_DELETE_ELEM for the
   * map type: how ztunnel consumes weft_orig_conn entries, once per captured connection.
   */
  take(key: K): V | undefined {
    const raw = wrapNative(`cannot take from map ${this.info.name}`, "bpf", () =>
      native().mapTake(this.#h, this.#codecs.key.encode(key)),
    );
    return raw === null ? undefined : this.#codecs.value.decode(raw);
  }

  *keys(): Generator<K> {
    let prev: Buffer | null = null;
    for (;;) {
      const cur: Buffer | null = native().mapNextKey(this.#h, prev);
      if (cur === null) return;
      yield this.#codecs.key.decode(cur);
      prev = cur;
    }
  }

  *entries(): Generator<[K, V]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /** Pin this map at `path` (maps of weft objects are already pinned by name under the pin root). */
  pin(path: string): void {
    wrapNative(`cannot pin map ${this.info.name} at ${path}`, "bpf", () => native().mapPin(this.#h, path));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    leaks.unregister(this);
    native().mapClose(this.#handle);
  }
}
