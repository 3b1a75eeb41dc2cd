// The maps shared by weft's programs (bpf/include/maps.h): names and codecs in one table, so
// callers write `openPinnedMap(pinRoot, WEFT_MAPS.origConn)` and get a typed BpfMap.
import { join } from "node:path";
import { BpfMap, type MapCodecs } from "./bpf.js";
import {
  connKey,
  ipKey,
  listenerKey,
  lpmKey,
  origDst,
  perCpuU64,
  podInfo,
  u32,
  u64,
  type ConnKey,
  type ListenerKey,
  type OrigDst,
  type PodInfo,
} from "./codecs.js";
import { REASONS, type Reason } from "./reasons.js";

export interface MapSpec<K, V> extends MapCodecs<K, V> {
  /** Pin name under the pin root (LIBBPF_PIN_BY_NAME). */
  readonly name: string;
}

function spec<K, V>(
  name: string,
  key: MapCodecs<K, V>["key"],
  value: MapCodecs<K, V>["value"],
): MapSpec<K, V> {
  return { name, key, value };
}

export const WEFT_MAPS = {
  /** {netns cookie, 4-tuple} → original destination; ztunnel deletes after lookup. */
  origConn: spec<ConnKey, OrigDst>("weft_orig_conn", connKey, origDst),
  /** pod IP → pod (netns cookie): skip self-connections, identify pods in sk_lookup. */
  podIps: spec<string, PodInfo>("weft_pod_ips", ipKey, podInfo),
  /** CIDRs outbound capture leaves alone. */
  exclude: spec<string, number>("weft_exclude", lpmKey, u32),
  /** Source CIDRs inbound capture lets through to the app (kubelet probes). */
  probeAllow: spec<string, number>("weft_probe_allow", lpmKey, u32),
  /** {pod IP, kind} → ztunnel's listener socket (update with setSocket; lookups return its cookie). */
  listeners: spec<ListenerKey, bigint>("weft_listeners", listenerKey, u64),
  /** {pod netns cookie, client → app} → 0: ztunnel's original-source dials sk_lookup lets through. */
  origSrc: spec<ConnKey, number>("weft_orig_src", connKey, u32),
  /** reason → per-CPU counters. */
  stats: spec<number, bigint[]>("weft_stats", u32, perCpuU64),
} as const;

/** Open a map pinned by name under `pinRoot` (after some object using it was loaded there). */
export function openPinnedMap<K, V>(pinRoot: string, map: MapSpec<K, V>): BpfMap<K, V> {
  return BpfMap.openPinned(join(pinRoot, map.name), map);
}

/** Sum the per-CPU counters of every known reason. */
export function readReasonCounters(stats: BpfMap<number, bigint[]>): Record<Reason, bigint> {
  const out = {} as Record<Reason, bigint>;
  for (const [name, index] of Object.entries(REASONS) as [Reason, number][]) {
    const perCpu = stats.lookup(index) ?? [];
    out[name] = perCpu.reduce((a, b) => a + b, 0n);
  }
  return out;
}
