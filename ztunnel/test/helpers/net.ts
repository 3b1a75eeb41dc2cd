// Loopback fixtures: TCP servers the tunnel connects to, and helpers to drive sockets and streams.
import { createHash } from "node:crypto";
import net from "node:net";
import { once } from "node:events";
import type { Duplex } from "node:stream";

export interface TestServer {
  readonly server: net.Server;
  readonly port: number;
  readonly sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:0 with allowHalfOpen and runs `onSocket` for each connection. */
export async function listen(onSocket: (s: net.Socket) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => {});
    onSocket(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Echo with half-close: ends its write side once the peer has ended and everything is echoed. */
export function echoServer(): Promise<TestServer> {
  return listen((s) => s.pipe(s));
}

/** Connects with allowHalfOpen, as ztunnel's upstream connections do. */
export async function connectTcp(port: number, host = "127.0.0.1"): Promise<net.Socket> {
  const s = net.connect({ host, port, allowHalfOpen: true });
  await once(s, "connect");
  return s;
}

/**
 * Reads a Duplex to its end; resolves with everything read. Event-based on purpose: `for await`
 * destroys the stream when the loop ends, which would reset a half-closed tunnel's other direction.
 */
export function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

/** Deterministic pseudo-random bytes (xorshift), cheap enough for 100 MB. */
export function patternChunk(seed: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) buf[i] = i & 0xff;
  return buf;
}

export function sha256(): ReturnType<typeof createHash> {
  return createHash("sha256");
}

/** Resolves when `emitter` emits `event`, or rejects after `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Promise.withResolvers (ES2024, outside this project's lib). */
export function deferred<T>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
