// Shared bits of the test apps: argument parsing (node:util parseArgs), one JSON object per
// stdout line (the testbed parses the last line of a client and waits for a server's
// "listening" line), and a clean exit on SIGTERM so the testbed's stop() is quick.
import type { AddressInfo } from "node:net";
import { parseArgs, type ParseArgsConfig } from "node:util";

export function args<T extends NonNullable<ParseArgsConfig["options"]>>(options: T) {
  return parseArgs({ options, strict: true, allowPositionals: false }).values;
}

export function emit(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

export function fail(error: unknown, extra: Record<string, unknown> = {}): never {
  emit({ ok: false, error: error instanceof Error ? error.message : String(error), ...extra });
  process.exit(1);
}

export function requirePort(value: string | undefined): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${value}`);
  return port;
}

/** IPv4 peers of a dual-stack socket appear as ::ffff:a.b.c.d; report the plain address. */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

export function endpoint(
  address: string | undefined,
  port: number | undefined,
): { address: string; port: number } {
  return { address: plainAddress(address), port: port ?? 0 };
}

export function announceListening(app: string, address: AddressInfo | string | null): void {
  const port = typeof address === "object" && address !== null ? address.port : 0;
  emit({ event: "listening", app, port, pid: process.pid });
}

export function exitOnSigterm(close: () => void): void {
  const stop = (): void => {
    close();
    // Open keep-alive connections must not hold the process past its stop().
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

/** Deterministic pseudo-random bytes (xorshift32): the same seed gives the same stream anywhere. */
export function* pseudoRandomChunks(seed: number, total: number, chunkSize = 64 * 1024): Generator<Buffer> {
  let x = seed >>> 0 || 0x9e3779b9;
  let left = total;
  while (left > 0) {
    const n = Math.min(chunkSize, left);
    const chunk = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      chunk[i] = x & 0xff;
    }
    left -= n;
    yield chunk;
  }
}
