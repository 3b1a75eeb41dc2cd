// @weft/native: eBPF objects, maps and links, sockets inside pod network namespaces, and cookies.
// See DESIGN §4 and bpf/include/maps.h for what the maps hold.
export {
  BpfLink,
  BpfMap,
  BpfObject,
  BpfProgram,
  type LoadOptions,
  type MapCodecs,
  type RodataValue,
  type UpdateFlag,
} from "./bpf.js";
export type {
  LinkInfo,
  MapInfo,
  ObjectMapInfo,
  ProgramInfo,
  TestRunOptions,
  TestRunResult,
} from "./binding.js";
export { ADDR_LEN, addrFamily, encodeAddr, isV4Mapped, readAddr, writeAddr } from "./addr.js";
export {
  AF_INET,
  AF_INET6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  LISTENER_KIND,
  MAP_STRUCTS,
  bytes,
  connKey,
  ipKey,
  listenerKey,
  lpmKey,
  origDst,
  perCpuU64,
  podInfo,
  skLookupCtx,
  u32,
  u64,
  type Codec,
  type ConnKey,
  type Endpoint,
  type FieldLayout,
  type ListenerKey,
  type ListenerKind,
  type OrigDst,
  type PodInfo,
  type SkLookupCtx,
  type StructCodec,
  type StructLayout,
} from "./codecs.js";
export { isWeftNativeError, nativeCode, toWeftError, type Domain, type WeftNativeError } from "./errors.js";
export { WEFT_MAPS, openPinnedMap, readReasonCounters, type MapSpec } from "./maps.js";
export {
  MAX_SOCKET_BATCH,
  ORIGINAL_SOURCE_MARK,
  ORIGINAL_SOURCE_TABLE,
  ZTUNNEL_SOCKET_MARK,
  bindSocket,
  closeFd,
  namedNetnsPath,
  netnsCookie,
  netnsPathOfPid,
  socketCookie,
  socketInNetns,
  socketNetnsCookie,
  socketsInNetns,
  setUpOriginalSource,
  takeDownOriginalSource,
  type OriginalSourceOptions,
  type SocketInNetnsOptions,
} from "./netns.js";
export { BPF_FS_MAGIC, DEFAULT_PIN_ROOT, ensurePinRoot, isOnBpffs } from "./pin.js";
export { REASONS, REASON_SLOTS, type Reason } from "./reasons.js";
