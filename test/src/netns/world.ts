// A world: nodes and pods made of network namespaces, veths and bridges, each pod with its own
// cgroup v2 directory, and the processes started in them. Build with `createWorld`, always end
// with `destroy()` (also run on SIGINT/SIGTERM, and by a detached reaper if the process exits
// without it; `sweepStale()` catches the rest, e.g. after SIGKILL).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testbedError } from "./errors.js";
import { execOk, ipBatch } from "./exec.js";
import { assertCanBuildWorld, cgroup2Mount, processStartTime } from "./host.js";
import {
  spawnPlaced,
  type PodProcess,
  type ExitStatus,
  type Placement,
  type SpawnOptions,
} from "./process.js";
import {
  createRecord,
  DEFAULT_RECORD_DIR,
  ownIdentity,
  recordPath,
  teardownRecord,
  updateRecord,
  type RunRecord,
} from "./record.js";
import {
  planWorld,
  STANDARD_TOPOLOGY,
  sysctlsFor,
  validateSpec,
  wiringScripts,
  type NodePlan,
  type PodPlan,
  type TopologySpec,
  type WorldPlan,
} from "./spec.js";

export interface WorldOptions {
  /** Where run records live; default /run/weft-testbed. */
  readonly recordDir?: string;
  /** Parent of the run's temp dir (logs); default os.tmpdir(). */
  readonly tmpRoot?: string;
  /** Grace period between SIGTERM and SIGKILL on destroy. */
  readonly stopGraceMs?: number;
}

export interface RunResult extends ExitStatus, Readonly<{ stdout: string; stderr: string; pid: number }> {}

/** The test apps shipped in src/apps, runnable in pods. */
export type AppName =
  | "tcp-echo"
  | "tcp-client"
  | "http-echo"
  | "http-client"
  | "h2-echo"
  | "grpc-echo"
  | "grpc-client"
  | "dns-server"
  | "dns-client";

const APPS_DIR = fileURLToPath(new URL("../apps/", import.meta.url));

export function appPath(app: AppName): string {
  return join(APPS_DIR, `${app}.js`);
}

export class World {
  readonly #processes: PodProcess[] = [];
  #record: RunRecord;
  #recordWrite: Promise<void> = Promise.resolve();
  #destroyed: Promise<void> | undefined;
  #seq = 0;

  private constructor(
    readonly plan: WorldPlan,
    readonly tmpDir: string,
    readonly recordDir: string,
    record: RunRecord,
    private readonly stopGraceMs: number,
  ) {
    this.#record = record;
  }

  /** @internal use createWorld */
  static async build(spec: TopologySpec, opts: WorldOptions): Promise<World> {
    const invalid = validateSpec(spec);
    if (invalid !== undefined) throw invalid;
    assertCanBuildWorld();
    const runId = spec.runId ?? randomBytes(3).toString("hex");
    const plan = planWorld(spec, runId, cgroup2Mount());
    const recordDir = opts.recordDir ?? DEFAULT_RECORD_DIR;
    const tmpDir = join(opts.tmpRoot ?? tmpdir(), plan.prefix);
    const record: RunRecord = {
      version: 1,
      runId,
      prefix: plan.prefix,
      ...(await ownIdentity()),
      createdAt: new Date().toISOString(),
      netns: [plan.wireNetns, ...plan.nodes.map((n) => n.netns), ...plan.pods.map((p) => p.netns)],
      cgroups: [...plan.pods.map((p) => p.cgroup), ...plan.nodes.map((n) => n.cgroup), plan.cgroupRoot],
      tmpDir,
      processes: [],
    };
    // The exclusive record is the claim on the run id; every name below carries it.
    await createRecord(recordDir, record);
    const taken = [
      ...record.netns.filter((n) => existsSync(`/run/netns/${n}`)),
      ...[plan.cgroupRoot, tmpDir].filter(existsSync),
    ];
    if (taken.length > 0) {
      await teardownRecord(recordDir, { ...record, netns: [], cgroups: [], tmpDir: undefined });
      throw testbedError(
        "WEFT_E_NAME_COLLISION",
        `testbed run ${runId} would reuse existing objects: ${taken.join(", ")}; they are not ours, so they were left alone`,
        "omit runId to get a fresh one, or remove those objects if they are leftovers",
        { taken },
      );
    }
    const world = new World(plan, tmpDir, recordDir, record, opts.stopGraceMs ?? 1500);
    registerForExit(world);
    try {
      await world.#create();
    } catch (e) {
      await world.destroy().catch(() => undefined);
      throw e;
    }
    return world;
  }

  async #create(): Promise<void> {
    const { plan } = this;
    await mkdir(this.tmpDir, { mode: 0o755 });
    await execOk("ip", ["-batch", "-"], this.#record.netns.map((n) => `netns add ${n}`).join("\n") + "\n");
    await mkdir(plan.cgroupRoot);
    await Promise.all([...plan.pods.map((p) => mkdir(p.cgroup)), ...plan.nodes.map((n) => mkdir(n.cgroup))]);
    // One `ip netns exec sh` per namespace writes all its sysctls; /proc/sys/net follows the netns.
    await Promise.all(
      sysctlsFor(plan).map(({ netns, settings }) => {
        const script = Object.entries(settings)
          .map(([k, v]) => `echo ${v} > /proc/sys/${k}`)
          .join(" && ");
        return execOk("ip", ["netns", "exec", netns, "sh", "-c", script]);
      }),
    );
    const scripts = wiringScripts(plan);
    // Wire first (it creates the node uplinks), then nodes (they create the pod veths), then pods.
    const wire = scripts.filter((s) => s.netns === plan.wireNetns);
    const nodes = scripts.filter((s) => plan.nodes.some((n) => n.netns === s.netns));
    const pods = scripts.filter((s) => plan.pods.some((p) => p.netns === s.netns));
    for (const stage of [wire, nodes, pods]) {
      await Promise.all(stage.map((s) => ipBatch(s.netns, s.lines)));
    }
  }

  get runId(): string {
    return this.plan.runId;
  }
  get prefix(): string {
    return this.plan.prefix;
  }
  get nodes(): readonly NodePlan[] {
    return this.plan.nodes;
  }
  get pods(): readonly PodPlan[] {
    return this.plan.pods;
  }
  get processes(): readonly PodProcess[] {
    return this.#processes;
  }

  pod(name: string): PodPlan {
    const pod = this.plan.pods.find((p) => p.name === name);
    if (pod === undefined) {
      throw testbedError(
        "WEFT_E_INVALID_INPUT",
        `no pod named "${name}" in testbed run ${this.runId}`,
        `use one of ${this.plan.pods.map((p) => p.name).join(", ")}`,
      );
    }
    return pod;
  }

  node(name: string): NodePlan {
    const node = this.plan.nodes.find((n) => n.name === name);
    if (node === undefined) {
      throw testbedError(
        "WEFT_E_INVALID_INPUT",
        `no node named "${name}" in testbed run ${this.runId}`,
        `use one of ${this.plan.nodes.map((n) => n.name).join(", ")}`,
      );
    }
    return node;
  }

  /**
   * Makes `path` part of the run: destroy() (and a sweep after a crash, or the signal handlers)
   * removes it recursively after the processes are stopped. For things the testbed does not
   * create itself, such as a component's bpffs pin root or a config directory.
   */
  async own(path: string): Promise<void> {
    this.#record = { ...this.#record, paths: [...(this.#record.paths ?? []), path] };
    const snapshot = this.#record;
    this.#recordWrite = this.#recordWrite.then(() => updateRecord(this.recordDir, snapshot));
    await this.#recordWrite;
  }

  /** Starts `command` inside pod `pod`: in its netns and cgroup (joined before exec). */
  async spawnInPod(
    pod: string,
    command: string,
    args: readonly string[] = [],
    opts?: SpawnOptions,
  ): Promise<PodProcess> {
    const p = this.pod(pod);
    return this.#spawn({ label: p.name, netns: p.netns, cgroup: p.cgroup }, command, args, opts);
  }

  /** Starts `command` on node `node`: in the node netns and the node's (non-pod) cgroup. */
  async spawnOnNode(
    node: string,
    command: string,
    args: readonly string[] = [],
    opts?: SpawnOptions,
  ): Promise<PodProcess> {
    const n = this.node(node);
    return this.#spawn({ label: n.name, netns: n.netns, cgroup: n.cgroup }, command, args, opts);
  }

  async #spawn(
    placement: Placement,
    command: string,
    args: readonly string[],
    opts?: SpawnOptions,
  ): Promise<PodProcess> {
    if (this.#destroyed !== undefined) {
      throw testbedError(
        "WEFT_E_INVALID_INPUT",
        `testbed run ${this.runId} is destroyed`,
        "create a new world",
      );
    }
    const proc = spawnPlaced(placement, this.tmpDir, ++this.#seq, command, args, opts);
    this.#processes.push(proc);
    const startTime = await processStartTime(proc.pid);
    this.#record = {
      ...this.#record,
      processes: [
        ...this.#record.processes,
        { pid: proc.pid, startTime, name: `${placement.label}/${proc.name}` },
      ],
    };
    const snapshot = this.#record;
    this.#recordWrite = this.#recordWrite.then(() => updateRecord(this.recordDir, snapshot));
    await this.#recordWrite;
    return proc;
  }

  /** Runs a command in a pod to completion (killed after `timeoutMs`) and returns its output. */
  async runInPod(
    pod: string,
    command: string,
    args: readonly string[] = [],
    opts: SpawnOptions & { timeoutMs?: number } = {},
  ): Promise<RunResult> {
    const proc = await this.spawnInPod(pod, command, args, opts);
    const timer = setTimeout(() => void proc.stop(200), opts.timeoutMs ?? 10_000);
    try {
      const status = await proc.exited;
      return { ...status, ...(await proc.logs()), pid: proc.pid };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts a test app server in a pod and waits until it reports it is listening. */
  async startApp(
    pod: string,
    app: AppName,
    args: readonly string[],
    readyTimeoutMs = 10_000,
  ): Promise<{ process: PodProcess; ready: Record<string, unknown> }> {
    const proc = await this.spawnInPod(pod, process.execPath, [appPath(app), ...args], { name: app });
    const line = await proc.waitForLine('"event":"listening"', readyTimeoutMs);
    return { process: proc, ready: JSON.parse(line) as Record<string, unknown> };
  }

  /** Runs a test app client in a pod and returns the JSON object it printed last. */
  async runApp<T>(pod: string, app: AppName, args: readonly string[], timeoutMs = 10_000): Promise<T> {
    const r = await this.runInPod(pod, process.execPath, [appPath(app), ...args], { name: app, timeoutMs });
    const last = r.stdout.trim().split("\n").pop() ?? "";
    if (r.code !== 0 || !last.startsWith("{")) {
      throw testbedError(
        "WEFT_E_UNAVAILABLE",
        `${app} ${args.join(" ")} in pod ${pod} failed (exit ${r.code ?? r.signal}): stdout: ${r.stdout.slice(-2000)} stderr: ${r.stderr.slice(-2000)}`,
        "read the app's output above; check the server is running and the address is right",
      );
    }
    return JSON.parse(last) as T;
  }

  /** The pod netns inode: what /proc/<pid>/ns/net links to for processes in the pod. */
  async netnsInode(netns: string): Promise<number> {
    return (await stat(`/run/netns/${netns}`)).ino;
  }

  /** Stops processes (SIGTERM, then SIGKILL), removes cgroups, namespaces, temp dir, record. Idempotent. */
  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      try {
        await Promise.all(this.#processes.map((p) => p.stop(this.stopGraceMs)));
        await this.#recordWrite.catch(() => undefined);
        await teardownRecord(this.recordDir, this.#record, this.stopGraceMs);
      } finally {
        unregisterForExit(this);
      }
    })();
    return this.#destroyed;
  }

  /** A readable table of the world: nodes, pods, netns, addresses, cgroups. */
  describe(): string {
    const rows: string[][] = [["kind", "name", "node", "netns", "ipv4", "ipv6", "cgroup"]];
    for (const n of this.plan.nodes) {
      rows.push([
        "node",
        n.name,
        "-",
        n.netns,
        `${n.bridgeIpv4} (${n.podCidrV4})`,
        `${n.bridgeIpv6} (${n.podCidrV6})`,
        n.cgroup,
      ]);
    }
    for (const p of this.plan.pods) {
      rows.push(["pod", p.name, p.node, p.netns, p.ipv4, p.ipv6, p.cgroup]);
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
    const line = (r: string[]): string =>
      r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join("  ")
        .trimEnd();
    return [
      `testbed run ${this.runId} (record ${recordPath(this.recordDir, this.runId)}, logs ${this.tmpDir})`,
      line(rows[0]!),
      line(widths.map((w) => "-".repeat(w))),
      ...rows.slice(1).map(line),
    ].join("\n");
  }
}

export function createWorld(spec: TopologySpec = STANDARD_TOPOLOGY, opts: WorldOptions = {}): Promise<World> {
  return World.build(spec, opts);
}

// --- cleanup when the process ends without destroy() ---------------------------------------------

const live = new Set<World>();
const REAPER = fileURLToPath(new URL("./reaper.js", import.meta.url));

function onSignal(signal: NodeJS.Signals): void {
  void Promise.allSettled([...live].map((w) => w.destroy())).then(() => {
    removeHandlers();
    // Re-raise so the process ends the way the signal meant (exit status 128+n).
    process.kill(process.pid, signal);
  });
}

function onExit(): void {
  // 'exit' handlers cannot wait, so a detached reaper finishes the job once this PID is gone.
  for (const w of live) {
    spawn(process.execPath, [REAPER, w.recordDir, w.runId, String(process.pid)], {
      detached: true,
      stdio: "ignore",
    }).unref();
  }
}

function removeHandlers(): void {
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.off("exit", onExit);
}

function registerForExit(world: World): void {
  if (live.size === 0) {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    process.on("exit", onExit);
  }
  live.add(world);
}

function unregisterForExit(world: World): void {
  live.delete(world);
  if (live.size === 0) removeHandlers();
}
