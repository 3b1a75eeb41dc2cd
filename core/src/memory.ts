// What a weft process's memory is made of, for admin endpoints (ztunnel's /memory, like Envoy's):
// RSS alone cannot tell V8's young generation, its old generation and native memory apart, and
// those are what a memory limit or a V8 flag changes (docs/perf/l4-hot-path.md).
import { getHeapSpaceStatistics } from "node:v8";

export interface HeapSpaceReport {
  /** What V8 has reserved for the space. */
  readonly sizeBytes: number;
  readonly usedBytes: number;
  /** What of the space is backed by memory: its share of RSS. */
  readonly physicalBytes: number;
}

export interface MemoryReport {
  readonly rssBytes: number;
  readonly heapTotalBytes: number;
  readonly heapUsedBytes: number;
  /** Memory of C++ objects bound to JS objects, Buffers included. */
  readonly externalBytes: number;
  readonly arrayBuffersBytes: number;
  /** By V8 space name, without the `_space` suffix: new, old, code, large_object, ... */
  readonly heapSpaces: Readonly<Record<string, HeapSpaceReport>>;
  /** The Node and V8 flags the process runs with (command line, then NODE_OPTIONS; the last wins). */
  readonly nodeFlags: readonly string[];
}

/** `nodeOptions`: the process's NODE_OPTIONS, as its config.ts read it (only config.ts reads the environment). */
export function memoryReport(nodeOptions = ""): MemoryReport {
  const usage = process.memoryUsage();
  const heapSpaces: Record<string, HeapSpaceReport> = {};
  for (const space of getHeapSpaceStatistics()) {
    heapSpaces[space.space_name.replace(/_space$/, "")] = {
      sizeBytes: space.space_size,
      usedBytes: space.space_used_size,
      physicalBytes: space.physical_space_size,
    };
  }
  const fromEnv = nodeOptions.split(/\s+/).filter((f) => f !== "");
  return {
    rssBytes: usage.rss,
    heapTotalBytes: usage.heapTotal,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    arrayBuffersBytes: usage.arrayBuffers,
    heapSpaces,
    nodeFlags: [...process.execArgv, ...fromEnv],
  };
}
