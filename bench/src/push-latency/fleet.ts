// Simulated ztunnels: N real DeltaXdsClients (one HTTP/2 connection over TLS and one ADS
// stream each) subscribed to Address and Authorization like a ztunnel. Each decodes every
// resource exactly as the data plane does (unpack the Any, convert and validate into @weft/state's
// model) but then drops the result instead of building a StateStore: N full stores of 10k pods
// in one process would measure the benchmark's memory, not the controller's.
//
// Observation: the harness announces the resource versions a change will produce (`expect`), and
// each client records when its handler has received all of them. Times are epoch milliseconds
// (timeOrigin + performance.now()) so they compare across processes.
import { DeltaXdsClient, addressFromProto, authorizationFromProto, unpackExpected } from "@weft/state";
import type { DecodedResource, XdsTypeHandler } from "@weft/state";
import { AddressSchema, AuthorizationSchema, TYPE_URL } from "@weft/api";

/** Epoch milliseconds with sub-millisecond resolution. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

export interface FleetOptions {
  readonly address: string;
  readonly clients: number;
  /** PEM trust bundle for the controller's serving certificate; absent means plaintext. */
  readonly caPem?: string;
  readonly serverName?: string;
}

/** One resource state a change produces: `version` null means removed. */
export interface ExpectedResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly version: string | null;
}

export interface FleetUsage {
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  readonly rssBytes: number;
  /** Peak RSS of this process so far (getrusage). */
  readonly maxRssBytes: number;
}

/** What the harness needs from the clients, in-process or behind IPC. */
export interface Fleet {
  /** Starts every client; the initial state holds `addressCount` Address resources. */
  start(addressCount: number): Promise<void>;
  /** Epoch time each client held the whole initial state, null when it did not in time. */
  waitSynced(timeoutMs: number): Promise<(number | null)[]>;
  expect(changeId: number, resources: readonly ExpectedResource[]): Promise<void>;
  /** Epoch time each client had all of the change's resources, null when it did not in time. */
  waitObserved(changeId: number, timeoutMs: number): Promise<(number | null)[]>;
  /** The fleet's clock minus ours, in ms (0 in-process). */
  clockOffset(): Promise<number>;
  usage(): Promise<FleetUsage>;
  close(): Promise<void>;
}

const keyOf = (typeUrl: string, name: string, version: string | null): string =>
  `${typeUrl}\n${name}\n${version ?? "-"}`;

interface Pending {
  readonly changeId: number;
  readonly remaining: Set<string>[];
  readonly observedAt: (number | null)[];
  left: number;
  readonly waiters: (() => void)[];
}

function decodeAddress(name: string, any: Parameters<XdsTypeHandler["decode"]>[1]): unknown {
  return addressFromProto(unpackExpected(AddressSchema, any));
}

function decodeAuthorization(name: string, any: Parameters<XdsTypeHandler["decode"]>[1]): unknown {
  return authorizationFromProto(unpackExpected(AuthorizationSchema, any));
}

export function usageNow(): FleetUsage {
  const cpu = process.cpuUsage();
  return {
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    rssBytes: process.memoryUsage.rss(),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

/** The clients themselves; runs in whichever process holds it. */
export class LocalFleet implements Fleet {
  readonly #opts: FleetOptions;
  readonly #clients: DeltaXdsClient[] = [];
  readonly #syncedAt: (number | null)[];
  #addressCount = 0;
  #synced = 0;
  #syncWaiters: (() => void)[] = [];
  readonly #changes = new Map<number, Pending>();
  /** The change being watched; observations only count after expect(). */
  #current: Pending | undefined;

  constructor(opts: FleetOptions) {
    this.#opts = opts;
    this.#syncedAt = Array.from({ length: opts.clients }, () => null);
  }

  start(addressCount: number): Promise<void> {
    this.#addressCount = addressCount;
    const credentials =
      this.#opts.caPem === undefined
        ? ({ kind: "insecure" } as const)
        : ({
            kind: "tls",
            ca: this.#opts.caPem,
            ...(this.#opts.serverName !== undefined ? { serverName: this.#opts.serverName } : {}),
          } as const);
    for (let i = 0; i < this.#opts.clients; i++) {
      const client = new DeltaXdsClient({
        address: this.#opts.address,
        credentials,
        node: { id: `bench-ztunnel-${i}` },
        handlers: [
          this.#handler(i, TYPE_URL.Address, decodeAddress),
          this.#handler(i, TYPE_URL.Authorization, decodeAuthorization),
        ],
        backoff: { baseMs: 100, maxMs: 2000 },
      });
      client.on("applied", (e) => {
        if (e.typeUrl !== TYPE_URL.Address || this.#syncedAt[i] !== null) return;
        if (client.versions(TYPE_URL.Address).size < this.#addressCount) return;
        this.#syncedAt[i] = epochNow();
        if (++this.#synced === this.#opts.clients) for (const w of this.#syncWaiters.splice(0)) w();
      });
      this.#clients.push(client);
    }
    for (const c of this.#clients) c.start();
    return Promise.resolve();
  }

  #handler(
    index: number,
    typeUrl: string,
    decode: (name: string, any: Parameters<XdsTypeHandler["decode"]>[1]) => unknown,
  ): XdsTypeHandler {
    return {
      typeUrl,
      decode,
      apply: (upserts: readonly DecodedResource<unknown>[], removes: readonly string[]) => {
        const pending = this.#current;
        if (pending === undefined) return [];
        const remaining = pending.remaining[index]!;
        if (remaining.size === 0) return [];
        for (const u of upserts) remaining.delete(keyOf(typeUrl, u.name, u.version));
        for (const name of removes) remaining.delete(keyOf(typeUrl, name, null));
        if (remaining.size === 0) {
          pending.observedAt[index] = epochNow();
          if (--pending.left === 0) for (const w of pending.waiters.splice(0)) w();
        }
        return [];
      },
    };
  }

  async waitSynced(timeoutMs: number): Promise<(number | null)[]> {
    if (this.#synced < this.#opts.clients) {
      await withTimeout((resolve) => this.#syncWaiters.push(resolve), timeoutMs);
    }
    return [...this.#syncedAt];
  }

  expect(changeId: number, resources: readonly ExpectedResource[]): Promise<void> {
    const keys = resources.map((r) => keyOf(r.typeUrl, r.name, r.version));
    const pending: Pending = {
      changeId,
      remaining: this.#clients.map(() => new Set(keys)),
      observedAt: this.#clients.map(() => null),
      left: keys.length === 0 ? 0 : this.#clients.length,
      waiters: [],
    };
    this.#changes.set(changeId, pending);
    this.#current = pending;
    return Promise.resolve();
  }

  async waitObserved(changeId: number, timeoutMs: number): Promise<(number | null)[]> {
    const pending = this.#changes.get(changeId);
    if (pending === undefined) throw new Error(`change ${changeId} was never expected`);
    if (pending.left > 0) await withTimeout((resolve) => pending.waiters.push(resolve), timeoutMs);
    this.#changes.delete(changeId);
    if (this.#current === pending) this.#current = undefined;
    return [...pending.observedAt];
  }

  clockOffset(): Promise<number> {
    return Promise.resolve(0);
  }

  usage(): Promise<FleetUsage> {
    return Promise.resolve(usageNow());
  }

  async close(): Promise<void> {
    this.#current = undefined;
    await Promise.all(this.#clients.map((c) => c.close()));
  }
}

/** Waits for `register`'s callback or `timeoutMs`, whichever is first (a timeout is not an error). */
function withTimeout(register: (resolve: () => void) => void, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    register(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
