// HTTP/2 parameters of HBONE connections (DESIGN §7), the same on both ends. Large windows and
// frames because throughput is bounded by how few, how large the writes are (DESIGN §12).
import type http2 from "node:http2";

const MiB = 1024 * 1024;

export const HBONE_STREAM_WINDOW = 4 * MiB;
export const HBONE_CONNECTION_WINDOW = 16 * MiB;
export const HBONE_MAX_FRAME_SIZE = 1 * MiB;
export const HBONE_MAX_CONCURRENT_STREAMS = 100;
/** CONNECT requests carry a handful of short headers; anything near this is abuse. */
export const HBONE_MAX_HEADER_LIST_SIZE = 16 * 1024;
export const HBONE_PING_INTERVAL_MS = 10_000;
export const HBONE_PING_TIMEOUT_MS = 20_000;

export const HBONE_SETTINGS: http2.Settings = {
  initialWindowSize: HBONE_STREAM_WINDOW,
  maxFrameSize: HBONE_MAX_FRAME_SIZE,
  maxConcurrentStreams: HBONE_MAX_CONCURRENT_STREAMS,
  maxHeaderListSize: HBONE_MAX_HEADER_LIST_SIZE,
  enablePush: false,
};

/** Session options common to client and server. */
export const HBONE_SESSION_OPTIONS = {
  settings: HBONE_SETTINGS,
  // MB. Node refuses new streams once a session holds more than this in queued frames; 100 streams
  // with 4 MiB windows can legitimately buffer far beyond the 10 MB default.
  maxSessionMemory: 256,
  maxHeaderListPairs: 64,
  maxOutstandingPings: 2,
  // Applies to headers we send and, on the server, to what nghttp2 accepts.
  maxSendHeaderBlockLength: HBONE_MAX_HEADER_LIST_SIZE,
} as const;
