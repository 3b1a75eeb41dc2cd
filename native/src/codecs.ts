// Encoders/decoders of the keys and values in bpf/include/maps.h. Each struct codec states its C
// name, size and field offsets; test/layout.test.ts checks them against the BTF of the built
// objects, and BpfMap checks sizes against the live map, so a drift fails loudly, never silently.
import { endianness } from "node:os";
import { weftError } from "@weft/core";
import { isV4Mapped, readAddr, writeAddr } from "./addr.js";

export interface Codec<T> {
  /** Encoded size in bytes; undefined when the map decides it (per-CPU values). */
  readonly size: number | undefined;
  encode(value: T): Buffer;
  decode(buf: Buffer): T;
}

export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
}

/** Where a C struct's fields are, as a codec assumes. */
export interface StructLayout {
  /** The C struct (bpf/include/maps.h, or the kernel's uapi). */
  readonly struct: string;
  readonly size: number;
  readonly fields: Readonly<Record<string, FieldLayout>>;
}

export interface StructCodec<T> extends Codec<T>, StructLayout {
  readonly size: number;
}

// Cookies, counters, prefix lengths and kinds are host-endian in BPF maps.
const LE = endianness() === "LE";
function writeU32(buf: Buffer, v: number, off: number): void {
  if (LE) buf.writeUInt32LE(v, off);
  else buf.writeUInt32BE(v, off);
}
function readU32(buf: Buffer, off: number): number {
  return LE ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
}
function writeU64(buf: Buffer, v: bigint, off: number): void {
  if (LE) buf.writeBigUInt64LE(v, off);
  else buf.writeBigUInt64BE(v, off);
}
function readU64(buf: Buffer, off: number): bigint {
  return LE ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off);
}

export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

function familyNumber(family: 4 | 6): number {
  return family === 4 ? AF_INET : AF_INET6;
}
function familyOf(n: number): 4 | 6 {
  return n === AF_INET ? 4 : 6;
}

export const u32: Codec<number> & { size: 4 } = {
  size: 4,
  encode: (v) => {
    const b = Buffer.alloc(4);
    writeU32(b, v, 0);
    return b;
  },
  decode: (b) => readU32(b, 0),
};

export const u64: Codec<bigint> & { size: 8 } = {
  size: 8,
  encode: (v) => {
    const b = Buffer.alloc(8);
    writeU64(b, v, 0);
    return b;
  },
  decode: (b) => readU64(b, 0),
};

/** A per-CPU array of u64 (e.g. weft_stats values): one bigint per possible CPU. */
export const perCpuU64: Codec<bigint[]> = {
  size: undefined,
  encode: (v) => {
    const b = Buffer.alloc(v.length * 8);
    v.forEach((n, i) => writeU64(b, n, i * 8));
    return b;
  },
  decode: (b) => {
    const out: bigint[] = [];
    for (let off = 0; off + 8 <= b.length; off += 8) out.push(readU64(b, off));
    return out;
  },
};

/** Raw bytes of a fixed size, for maps without a typed codec. */
export function bytes(size: number): Codec<Buffer> {
  return { size, encode: (v) => Buffer.from(v), decode: (b) => b };
}

export interface Endpoint {
  address: string;
  port: number;
}

/** struct weft_orig_dst: where the app wanted to go. */
export interface OrigDst extends Endpoint {
  /** Family of the app's socket; a v4-mapped destination on a v6 socket is family 6, "::ffff:a.b.c.d". */
  family: 4 | 6;
  protocol: "tcp" | "udp";
}

export const origDst: StructCodec<OrigDst> = {
  struct: "weft_orig_dst",
  size: 20,
  fields: {
    addr: { offset: 0, size: 16 },
    port: { offset: 16, size: 2 },
    family: { offset: 18, size: 1 },
    protocol: { offset: 19, size: 1 },
  },
  encode(v) {
    const b = Buffer.alloc(20);
    writeAddr(v.address, b, 0);
    b.writeUInt16BE(v.port, 16);
    b[18] = familyNumber(v.family);
    b[19] = v.protocol === "tcp" ? IPPROTO_TCP : IPPROTO_UDP;
    return b;
  },
  decode(b) {
    const family = familyOf(b[18] ?? 0);
    return {
      address: readAddr(b, 0, family),
      port: b.readUInt16BE(16),
      family,
      protocol: b[19] === IPPROTO_UDP ? "udp" : "tcp",
    };
  },
};

/**
 * struct weft_conn_key: a redirected connection as ztunnel sees it after accept() in the pod
 * netns: src = the accepted socket's remote end (the app), dst = its local end (ztunnel's 15001).
 * IPv4 and "::ffff:a.b.c.d" encode alike, so either form of Node's addresses works.
 */
export interface ConnKey {
  netnsCookie: bigint;
  src: Endpoint;
  dst: Endpoint;
}

export const connKey: StructCodec<ConnKey> = {
  struct: "weft_conn_key",
  size: 48,
  fields: {
    netns_cookie: { offset: 0, size: 8 },
    src_addr: { offset: 8, size: 16 },
    dst_addr: { offset: 24, size: 16 },
    src_port: { offset: 40, size: 2 },
    dst_port: { offset: 42, size: 2 },
    pad: { offset: 44, size: 4 },
  },
  encode(v) {
    const b = Buffer.alloc(48);
    writeU64(b, v.netnsCookie, 0);
    writeAddr(v.src.address, b, 8);
    writeAddr(v.dst.address, b, 24);
    b.writeUInt16BE(v.src.port, 40);
    b.writeUInt16BE(v.dst.port, 42);
    return b;
  },
  decode(b) {
    return {
      netnsCookie: readU64(b, 0),
      src: { address: readAddr(b, 8), port: b.readUInt16BE(40) },
      dst: { address: readAddr(b, 24), port: b.readUInt16BE(42) },
    };
  },
};

/** struct weft_ip_key */
export const ipKey: StructCodec<string> = {
  struct: "weft_ip_key",
  size: 16,
  fields: { addr: { offset: 0, size: 16 } },
  encode(address) {
    const b = Buffer.alloc(16);
    writeAddr(address, b, 0);
    return b;
  },
  decode: (b) => readAddr(b, 0),
};

/** struct weft_pod_info: the enrolled pod an IP belongs to. */
export interface PodInfo {
  netnsCookie: bigint;
  flags: number;
}

export const podInfo: StructCodec<PodInfo> = {
  struct: "weft_pod_info",
  size: 16,
  fields: {
    netns_cookie: { offset: 0, size: 8 },
    flags: { offset: 8, size: 4 },
    pad: { offset: 12, size: 4 },
  },
  encode(v) {
    const b = Buffer.alloc(16);
    writeU64(b, v.netnsCookie, 0);
    writeU32(b, v.flags, 8);
    return b;
  },
  decode: (b) => ({ netnsCookie: readU64(b, 0), flags: readU32(b, 8) }),
};

/** struct weft_lpm_key as a CIDR ("10.0.0.0/8", "fd00::/8"); IPv4 prefixes are stored v4-mapped. */
export const lpmKey: StructCodec<string> = {
  struct: "weft_lpm_key",
  size: 20,
  fields: { prefixlen: { offset: 0, size: 4 }, addr: { offset: 4, size: 16 } },
  encode(cidr) {
    const slash = cidr.lastIndexOf("/");
    const address = slash < 0 ? cidr : cidr.slice(0, slash);
    const b = Buffer.alloc(20);
    writeAddr(address, b, 4);
    const v4 = address.includes(".") && !address.includes(":");
    const max = v4 ? 32 : 128;
    const len = slash < 0 ? max : Number(cidr.slice(slash + 1));
    if (!Number.isInteger(len) || len < 0 || len > max) {
      throw weftError("WEFT_E_INVALID_INPUT", `'${cidr}' is not a CIDR (prefix length 0..${max})`);
    }
    writeU32(b, v4 ? 96 + len : len, 0);
    return b;
  },
  decode(b) {
    const len = readU32(b, 0);
    return len >= 96 && isV4Mapped(b, 4) ? `${readAddr(b, 4, 4)}/${len - 96}` : `${readAddr(b, 4)}/${len}`;
  },
};

/** Kinds of ztunnel listener in weft_listeners (WEFT_LISTENER_* in maps.h). */
export const LISTENER_KIND = { plaintext: 1, hbone: 2 } as const;
export type ListenerKind = keyof typeof LISTENER_KIND;

/** struct weft_listener_key: ztunnel's listener for one pod IP. */
export interface ListenerKey {
  address: string;
  kind: ListenerKind;
}

export const listenerKey: StructCodec<ListenerKey> = {
  struct: "weft_listener_key",
  size: 20,
  fields: { addr: { offset: 0, size: 16 }, kind: { offset: 16, size: 4 } },
  encode(v) {
    const b = Buffer.alloc(20);
    writeAddr(v.address, b, 0);
    writeU32(b, LISTENER_KIND[v.kind], 16);
    return b;
  },
  decode(b) {
    const n = readU32(b, 16);
    return { address: readAddr(b, 0), kind: n === LISTENER_KIND.hbone ? "hbone" : "plaintext" };
  },
};

/**
 * The kernel's struct bpf_sk_lookup (uapi), the context of an sk_lookup BPF_PROG_TEST_RUN. After
 * the run, `cookie` is the socket cookie of the listener the program selected (0: none).
 */
export interface SkLookupCtx {
  family: 4 | 6;
  protocol: "tcp" | "udp";
  remote: Endpoint;
  local: Endpoint;
  cookie?: bigint;
}

export const skLookupCtx: StructCodec<SkLookupCtx> = {
  struct: "bpf_sk_lookup",
  size: 72,
  fields: {
    cookie: { offset: 0, size: 8 },
    family: { offset: 8, size: 4 },
    protocol: { offset: 12, size: 4 },
    remote_ip4: { offset: 16, size: 4 },
    remote_ip6: { offset: 20, size: 16 },
    remote_port: { offset: 36, size: 2 },
    local_ip4: { offset: 40, size: 4 },
    local_ip6: { offset: 44, size: 16 },
    local_port: { offset: 60, size: 4 },
    ingress_ifindex: { offset: 64, size: 4 },
  },
  encode(v) {
    const b = Buffer.alloc(72);
    writeU32(b, familyNumber(v.family), 8);
    writeU32(b, v.protocol === "tcp" ? IPPROTO_TCP : IPPROTO_UDP, 12);
    const tmp = Buffer.alloc(16);
    for (const [end, ip4, ip6] of [
      [v.remote, 16, 20],
      [v.local, 40, 44],
    ] as const) {
      writeAddr(end.address, tmp, 0);
      if (v.family === 4) tmp.copy(b, ip4, 12, 16);
      else tmp.copy(b, ip6, 0, 16);
    }
    b.writeUInt16BE(v.remote.port, 36); // network byte order
    writeU32(b, v.local.port, 60); // host byte order
    return b;
  },
  decode(b) {
    const family = familyOf(readU32(b, 8));
    const addr = (ip4: number, ip6: number): string => {
      if (family === 6) return readAddr(b, ip6);
      return `${b[ip4]}.${b[ip4 + 1]}.${b[ip4 + 2]}.${b[ip4 + 3]}`;
    };
    return {
      cookie: readU64(b, 0),
      family,
      protocol: readU32(b, 12) === IPPROTO_UDP ? "udp" : "tcp",
      remote: { address: addr(16, 20), port: b.readUInt16BE(36) },
      local: { address: addr(40, 44), port: readU32(b, 60) },
    };
  },
};

/** The struct codecs of maps.h, for the layout test and documentation. */
export const MAP_STRUCTS: readonly StructLayout[] = [origDst, connKey, ipKey, podInfo, lpmKey, listenerKey];
