// One push-latency scenario: a real DeltaXdsServer on a real grpc-js server (loopback, TLS 1.3
// with a serving certificate from the controller's CA library, as in production), fed through the
// controller's own IncrementalTranslator → publishUpdate path (as main.ts runs it) from a synthetic
// World, and a fleet of real DeltaXdsClients in this process or in a child process.
//
// Push latency of a change = from the changed object reaching the translator to a client's handler
// having every changed resource: the translation's duration plus the time from publish() to the
// client. (The harness tells the fleet what to expect between the two, over IPC in child mode;
// adding the translation time instead of timing across that gap keeps the IPC out of the figure.)
// The server's own write latency is measured from the same start (seenAt = publish − translation).
import * as grpc from "@grpc/grpc-js";
import { TYPE_URL } from "@weft/api";
import {
  DEFAULT_MESH_SETTINGS,
  DeltaXdsServer,
  ResourceCache,
  TlsServerCredentials,
  generateRoot,
  issueServingCertificate,
  loadRoot,
  IncrementalTranslator,
  publishUpdate,
  resourceVersion,
  type ResourceInput,
  type TranslationUpdate,
} from "@weft/controller";
import { setTimeout as sleep } from "node:timers/promises";
import { Session } from "node:inspector/promises";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { round, summarize, type Summary } from "../stats.js";
import {
  epochNow,
  LocalFleet,
  usageNow,
  type ExpectedResource,
  type Fleet,
  type FleetUsage,
} from "./fleet.js";
import { RemoteFleet } from "./fleet-remote.js";
import { World, type MutationKind } from "./world.js";

const SERVER_NAME = "weft-controller.weft-system.svc";
/** The types a ztunnel subscribes to; the other served types never reach the simulated clients. */
const CLIENT_TYPES: readonly string[] = [TYPE_URL.Address, TYPE_URL.Authorization];

export type FleetMode = "in-process" | "child";

export interface ScenarioOptions {
  readonly pods: number;
  readonly clients: number;
  readonly changes: number;
  /** Time from one change to the next (changes are spaced, not a burst). */
  readonly intervalMs: number;
  readonly fleet: FleetMode;
  readonly tls: boolean;
  /** Give up on the initial sync after this long (the scenario then fails). */
  readonly syncTimeoutMs: number;
  /** Give up waiting for one change after this long (the missing samples are reported). */
  readonly changeTimeoutMs: number;
  /** Write a V8 CPU profile of this process over the change phase only (not the initial sync) here. */
  readonly profileDir?: string;
  /** Extra node flags for the fleet child (e.g. --cpu-prof). */
  readonly childExecArgv?: readonly string[];
  readonly log?: (line: string) => void;
}

export interface ChangeResult {
  readonly kind: MutationKind;
  readonly pod: string;
  readonly resources: number;
  readonly translateMs: number;
  readonly publishMs: number;
  readonly observed: number;
  readonly p50Ms: number;
  readonly maxMs: number;
}

export interface CpuFigures {
  readonly wallMs: number;
  readonly userMs: number;
  readonly systemMs: number;
  /** (user + system) / wall: 1.0 is one core busy the whole time. */
  readonly cores: number;
}

export interface ScenarioResult {
  readonly name: string;
  readonly options: Omit<ScenarioOptions, "log" | "childExecArgv">;
  readonly resources: { readonly addresses: number; readonly authorizations: number };
  readonly initialSync: {
    readonly translateMs: number;
    readonly publishMs: number;
    /** From starting the clients until the last one held everything. */
    readonly allSyncedMs: number;
    readonly perClient: Summary;
    readonly synced: number;
  };
  /** Over every client × change: ms from the translator getting the change to the client's handler having it. */
  readonly push: Summary & { readonly expected: number; readonly missing: number };
  /** The server's own figure: from the translator getting the change to the response being written. */
  readonly serverWrite: Summary;
  readonly changes: readonly ChangeResult[];
  /** Changes the translator could not take pod by pod (0 for this World's pod changes). */
  readonly fullTranslations: number;
  /** This process (the controller; and the clients too when in-process) during the changes. */
  readonly cpu: {
    readonly initialSync: CpuFigures;
    readonly changes: CpuFigures & { readonly perChangeMs: number };
  };
  readonly memory: { readonly peakRssBytes: number; readonly maxRssBytes: number };
  /** The client process, when the fleet runs in a child. */
  readonly fleetProcess?: { readonly changes: CpuFigures; readonly maxRssBytes: number };
  readonly clockOffsetMs: number;
  readonly durationMs: number;
}

export function scenarioName(o: Pick<ScenarioOptions, "pods" | "clients" | "fleet" | "tls">): string {
  const k = (n: number): string => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
  return `${k(o.pods)} pods × ${o.clients} clients (${o.fleet}${o.tls ? "" : ", plaintext"})`;
}

async function servingCredentials(): Promise<{ credentials: grpc.ServerCredentials; caPem: string }> {
  const root = await generateRoot({ trustDomain: "cluster.local" });
  const authority = await loadRoot({ certPem: root.certPem, keyPem: root.keyPem });
  const serving = await issueServingCertificate(authority, {
    identity: "spiffe://cluster.local/ns/weft-system/sa/weft-controller",
    dnsNames: [SERVER_NAME],
    ipAddresses: ["127.0.0.1"],
  });
  return {
    credentials: new TlsServerCredentials({
      ca: root.certPem,
      certChainPem: serving.certChain.join(""),
      keyPem: serving.keyPem,
    }),
    caPem: root.certPem,
  };
}

/** Names and versions `upserts` will change in one type (equal bytes are an equal version). */
function expectedUpserts(
  cache: ResourceCache,
  typeUrl: string,
  upserts: readonly ResourceInput[],
  out: ExpectedResource[],
): Set<string> {
  const current = cache.resources(typeUrl);
  const seen = new Set<string>();
  for (const r of upserts) {
    seen.add(r.name);
    const old = current.get(r.name);
    // Hash only what differs (10k hashes per full translation add up).
    if (old !== undefined && r.waypoints === undefined && old.waypoints === undefined) {
      if (Buffer.compare(old.resource.value, r.resource.value) === 0) continue;
    }
    const version = resourceVersion(r.resource, r.waypoints);
    if (old?.version !== version) out.push({ typeUrl, name: r.name, version });
  }
  return seen;
}

/** What publishing `update` will change for the clients' types (computed before the publish). */
function expectedChanges(cache: ResourceCache, update: TranslationUpdate): ExpectedResource[] {
  const out: ExpectedResource[] = [];
  if (update.kind === "pods") {
    if (!CLIENT_TYPES.includes(update.typeUrl)) return out;
    expectedUpserts(cache, update.typeUrl, update.upserts, out);
    const current = cache.resources(update.typeUrl);
    for (const name of update.removes) {
      if (current.has(name)) out.push({ typeUrl: update.typeUrl, name, version: null });
    }
    return out;
  }
  for (const typeUrl of CLIENT_TYPES) {
    const seen = expectedUpserts(cache, typeUrl, update.resources.get(typeUrl) ?? [], out);
    for (const name of cache.resources(typeUrl).keys()) {
      if (!seen.has(name)) out.push({ typeUrl, name, version: null });
    }
  }
  return out;
}

function cpuBetween(a: NodeJS.CpuUsage, b: NodeJS.CpuUsage, wallMs: number): CpuFigures {
  const userMs = (b.user - a.user) / 1000;
  const systemMs = (b.system - a.system) / 1000;
  return {
    wallMs: round(wallMs),
    userMs: round(userMs),
    systemMs: round(systemMs),
    cores: round((userMs + systemMs) / wallMs, 2),
  };
}

function fleetCpuBetween(a: FleetUsage, b: FleetUsage, wallMs: number): CpuFigures {
  const userMs = b.cpuUserMs - a.cpuUserMs;
  const systemMs = b.cpuSystemMs - a.cpuSystemMs;
  return {
    wallMs: round(wallMs),
    userMs: round(userMs),
    systemMs: round(systemMs),
    cores: round((userMs + systemMs) / wallMs, 2),
  };
}

function rounded(s: Summary): Summary {
  return {
    count: s.count,
    min: round(s.min, 2),
    mean: round(s.mean, 2),
    p50: round(s.p50, 2),
    p90: round(s.p90, 2),
    p99: round(s.p99, 2),
    max: round(s.max, 2),
  };
}

async function startProfiler(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return session;
}

async function stopProfiler(session: Session, file: string): Promise<void> {
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  await mkdir(join(file, ".."), { recursive: true });
  await writeFile(file, JSON.stringify(profile));
}

export async function runScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const log = opts.log ?? (() => {});
  const name = scenarioName(opts);
  const started = performance.now();
  let peakRss = process.memoryUsage.rss();
  const rssSampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
  }, 50);

  const cache = new ResourceCache();
  const serverWrites: number[] = [];
  let measuringWrites = false;
  const server = new DeltaXdsServer({
    cache,
    onEvent: (e) => {
      if (measuringWrites && e.type === "push" && e.latencyMs !== undefined) serverWrites.push(e.latencyMs);
    },
  });
  const grpcServer = new grpc.Server({
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.max_receive_message_length": 4 << 20,
  });
  server.addTo(grpcServer);
  const tls = opts.tls ? await servingCredentials() : undefined;
  const port = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(
      "127.0.0.1:0",
      tls?.credentials ?? grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );

  let fleet: Fleet | undefined;
  try {
    // ---- the initial state -----------------------------------------------------------------------
    const world = new World(opts.pods);
    const mesh = DEFAULT_MESH_SETTINGS;
    const translator = new IncrementalTranslator();
    let t = performance.now();
    const initial = translator.update({ objects: world.objects(), mesh });
    const translateMs = performance.now() - t;
    t = performance.now();
    publishUpdate(cache, initial, t);
    const publishMs = performance.now() - t;
    const addresses = cache.resources(TYPE_URL.Address).size;
    const authorizations = cache.resources(TYPE_URL.Authorization).size;
    log(
      `${name}: ${addresses} addresses, translate ${round(translateMs)} ms, publish ${round(publishMs)} ms`,
    );

    const fleetOptions = {
      address: `127.0.0.1:${port}`,
      clients: opts.clients,
      ...(tls !== undefined ? { caPem: tls.caPem, serverName: SERVER_NAME } : {}),
    };
    fleet =
      opts.fleet === "child"
        ? await RemoteFleet.spawn(fleetOptions, opts.childExecArgv)
        : new LocalFleet(fleetOptions);
    const clockOffsetMs = await fleet.clockOffset();

    const syncCpu0 = process.cpuUsage();
    const syncStart = epochNow();
    await fleet.start(addresses);
    const syncedAt = await fleet.waitSynced(opts.syncTimeoutMs);
    const syncWall = epochNow() - syncStart;
    const syncCpu = cpuBetween(syncCpu0, process.cpuUsage(), syncWall);
    const syncTimes = syncedAt
      .filter((x): x is number => x !== null)
      .map((x) => x - clockOffsetMs - syncStart);
    if (syncTimes.length < opts.clients) {
      throw new Error(
        `${name}: only ${syncTimes.length} of ${opts.clients} clients synced within ${opts.syncTimeoutMs} ms`,
      );
    }
    const perClientSync = summarize(syncTimes);
    log(`${name}: all ${opts.clients} clients synced in ${round(perClientSync.max)} ms`);
    // Let the connection storm's garbage and timers settle before timing single changes.
    await sleep(Math.min(2000, opts.intervalMs * 5));

    // ---- single changes, spaced apart ------------------------------------------------------------
    const samples: number[] = [];
    const changes: ChangeResult[] = [];
    let expectedSamples = 0;
    let fullTranslations = 0;
    const profiler = opts.profileDir === undefined ? undefined : await startProfiler();
    const fleetUsage0 = await fleet.usage();
    const cpu0 = process.cpuUsage();
    const phaseStart = performance.now();
    measuringWrites = true;
    for (let k = 0; k < opts.changes; k++) {
      const mutation = world.mutate(k);
      const objects = world.objects();
      let t1 = performance.now();
      // The delta is what a Kubernetes informer hands over; the file source lets the translator
      // find it (an identity pass over every object).
      const update = translator.update({ objects, mesh }, mutation);
      const changeTranslateMs = performance.now() - t1;
      if (update.kind === "full") fullTranslations++;
      const expected = expectedChanges(cache, update);
      await fleet.expect(k, expected);

      const t0 = performance.now();
      // The change counts from when the translator got it: the translation is part of the latency.
      const t0Epoch = performance.timeOrigin + t0 - changeTranslateMs;
      publishUpdate(cache, update, t0 - changeTranslateMs);
      t1 = performance.now();
      const observedAt = await fleet.waitObserved(k, opts.changeTimeoutMs);
      const latencies = observedAt
        .filter((x): x is number => x !== null)
        .map((x) => x - clockOffsetMs - t0Epoch);
      if (expected.length > 0) {
        expectedSamples += opts.clients;
        samples.push(...latencies);
      }
      const s = summarize(latencies);
      changes.push({
        kind: mutation.kind,
        pod: mutation.pod,
        resources: expected.length,
        translateMs: round(changeTranslateMs, 2),
        publishMs: round(t1 - t0, 2),
        observed: latencies.length,
        p50Ms: round(s.p50, 2),
        maxMs: round(s.max, 2),
      });
      const wait = t0 + opts.intervalMs - performance.now();
      if (wait > 0) await sleep(wait);
    }
    measuringWrites = false;
    const phaseWall = performance.now() - phaseStart;
    const changeCpu = cpuBetween(cpu0, process.cpuUsage(), phaseWall);
    if (profiler !== undefined && opts.profileDir !== undefined) {
      const file = join(
        opts.profileDir,
        `push-latency-${opts.pods}x${opts.clients}-${opts.fleet}.cpuprofile`,
      );
      await stopProfiler(profiler, file);
      log(`${name}: change-phase CPU profile in ${file}`);
    }
    const fleetUsage1 = await fleet.usage();
    const push = summarize(samples);
    log(`${name}: push p50 ${round(push.p50)} ms, p99 ${round(push.p99)} ms, max ${round(push.max)} ms`);

    return {
      name,
      options: {
        pods: opts.pods,
        clients: opts.clients,
        changes: opts.changes,
        intervalMs: opts.intervalMs,
        fleet: opts.fleet,
        tls: opts.tls,
        syncTimeoutMs: opts.syncTimeoutMs,
        changeTimeoutMs: opts.changeTimeoutMs,
      },
      resources: { addresses, authorizations },
      initialSync: {
        translateMs: round(translateMs),
        publishMs: round(publishMs),
        allSyncedMs: round(perClientSync.max),
        perClient: rounded(perClientSync),
        synced: syncTimes.length,
      },
      push: { ...rounded(push), expected: expectedSamples, missing: expectedSamples - samples.length },
      serverWrite: rounded(summarize(serverWrites)),
      changes,
      cpu: {
        initialSync: syncCpu,
        changes: {
          ...changeCpu,
          perChangeMs: round((changeCpu.userMs + changeCpu.systemMs) / opts.changes, 2),
        },
      },
      memory: { peakRssBytes: peakRss, maxRssBytes: usageNow().maxRssBytes },
      ...(opts.fleet === "child"
        ? {
            fleetProcess: {
              changes: fleetCpuBetween(fleetUsage0, fleetUsage1, phaseWall),
              maxRssBytes: fleetUsage1.maxRssBytes,
            },
          }
        : {}),
      clockOffsetMs: round(clockOffsetMs, 3),
      fullTranslations,
      durationMs: round(performance.now() - started),
    };
  } finally {
    clearInterval(rssSampler);
    measuringWrites = false;
    // Clients first, so they do not start reconnecting to a closing server.
    await fleet?.close();
    server.close();
    grpcServer.forceShutdown();
  }
}
