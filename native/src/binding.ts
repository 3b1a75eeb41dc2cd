// The compiled addon (native/addon/*.c, built by `make -C native` into build/weft_native.node) and
// the exact shape of what it exports. Everything here is internal: the classes in bpf.ts and
// netns.ts are the public, typed and fd-owning surface.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { weftError } from "@weft/core";

/** Opaque handles owned by the addon (closed on close() or, as a last resort, by GC). */
export type ObjectHandle = { readonly __brand: "weft.bpf_object" };
export type MapHandle = { readonly __brand: "weft.bpf_map" };

export interface RodataVar {
  name: string;
  offset: number;
  size: number;
}

export interface ProgramInfo {
  name: string;
  section: string;
  /** libbpf's name of the program type, e.g. "cgroup_sock_addr", "sk_lookup". */
  type: string;
  /** libbpf's name of the expected attach type, e.g. "cgroup_inet4_connect". */
  attachType: string;
  fd: number;
}

export interface ObjectMapInfo {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface MapInfo extends ObjectMapInfo {
  /** Bytes of a lookup/update value: valueSize, or rounded up to 8 × possible CPUs for per-CPU maps. */
  valueBufSize: number;
  id: number;
  fd: number;
}

export interface LinkInfo {
  id: number;
  type: string;
  progId: number;
  attachType?: string;
  cgroupId?: bigint;
  /** 0 once the namespace the link was attached to is gone. */
  netnsIno?: number;
}

export interface TestRunOptions {
  ctxIn?: Uint8Array;
  dataIn?: Uint8Array;
  ctxOutSize?: number;
  dataOutSize?: number;
  repeat?: number;
}

export interface TestRunResult {
  retval: number;
  durationNs: number;
  ctxOut?: Buffer;
  dataOut?: Buffer;
  dataOutSize?: number;
}

export interface NativeSocketOptions {
  family: 4 | 6;
  type: "tcp" | "udp";
  address?: string;
  port?: number;
  backlog?: number;
  reuseaddr?: boolean;
  reuseport?: boolean;
  transparent?: boolean;
  freebind?: boolean;
  v6only?: boolean;
  mark?: number;
}

type Callback<T> = (err: Error | null, result: T) => void;

export interface NativeBinding {
  version(): { libbpf: string; napi: number };
  objectOpen(path: string, pinRoot: string | null): ObjectHandle;
  objectRodataVars(h: ObjectHandle): RodataVar[];
  objectSetRodata(h: ObjectHandle, name: string, value: Uint8Array): void;
  objectLoad(h: ObjectHandle): void;
  objectClose(h: ObjectHandle): void;
  objectPrograms(h: ObjectHandle): ProgramInfo[];
  objectMaps(h: ObjectHandle): ObjectMapInfo[];
  objectMap(h: ObjectHandle, name: string): MapHandle;
  objectProgFd(h: ObjectHandle, name: string): number;
  progTestRun(h: ObjectHandle, name: string, opts: TestRunOptions): TestRunResult;
  mapOpenPinned(path: string): MapHandle;
  mapInfo(m: MapHandle): MapInfo;
  mapLookup(m: MapHandle, key: Uint8Array): Buffer | null;
  mapUpdate(m: MapHandle, key: Uint8Array, value: Uint8Array, flags: number): void;
  mapSockUpdate(m: MapHandle, key: Uint8Array, socketFd: number, flags: number): void;
  mapDelete(m: MapHandle, key: Uint8Array): boolean;
  mapTake(m: MapHandle, key: Uint8Array): Buffer | null;
  mapNextKey(m: MapHandle, key: Uint8Array | null): Buffer | null;
  mapPin(m: MapHandle, path: string): void;
  mapClose(m: MapHandle): void;
  attachCgroup(h: ObjectHandle, prog: string, cgroupPath: string): number;
  attachNetns(h: ObjectHandle, prog: string, netnsPath: string): number;
  linkPin(fd: number, path: string): void;
  linkOpenPinned(path: string): number;
  unpin(path: string): void;
  linkUpdate(fd: number, h: ObjectHandle, prog: string): void;
  linkDetach(fd: number): void;
  linkInfo(fd: number): LinkInfo;
  closeFd(fd: number): void;
  socketInNetns(netnsPath: string, opts: NativeSocketOptions, cb: Callback<number>): void;
  socketInNetns(
    netnsPath: string,
    opts: NativeSocketOptions & { count: number },
    cb: Callback<number[]>,
  ): void;
  netnsCookie(netnsPath: string, cb: Callback<bigint>): void;
  netnsOriginalSource(
    netnsPath: string,
    options: { mark: number; table: number; ipv6?: boolean; remove?: boolean },
    cb: Callback<undefined>,
  ): void;
  socketCookie(fd: number): bigint;
  socketBind(fd: number, address: string, port: number): number;
  socketNetnsCookie(fd: number): bigint;
}

/** Where the addon is built, relative to this file in src/ (tests via tsx) or dist/src/. */
function addonPath(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, "..", "build"), join(here, "..", "..", "build")]
    .map((dir) => join(dir, "weft_native.node"))
    .find((path) => existsSync(path));
}

let loaded: NativeBinding | undefined;

/** The addon, loaded on first use so that importing @weft/native never fails by itself. */
export function native(): NativeBinding {
  if (loaded !== undefined) return loaded;
  const path = addonPath();
  if (path === undefined) {
    throw weftError(
      "WEFT_E_BPF",
      "the native addon build/weft_native.node of @weft/native is not built",
      undefined,
      {
        fix: "build it with `npm run -w @weft/native build:native` (needs libbpf-dev, gcc, make)",
      },
    );
  }
  loaded = createRequire(import.meta.url)(path) as NativeBinding;
  return loaded;
}
