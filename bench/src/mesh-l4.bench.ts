// mesh-l4 (DESIGN §11, issue 6): the L4 data path side by side in one run on one machine:
// direct (pods not enrolled), a stunnel4 mutual-TLS pair, two "Node floor" pairs (the least a
// Node.js tunnel does: mesh-l4/relay.ts), weft L4 through two ztunnels (client on
// node-a, server on node-b) and weft on one node. iperf3 for throughput (1 and 8 streams), fortio
// (built from its Go module into bench/.cache/bin by scripts/bench.sh) for latency at a fixed rate
// and at saturation and for new connections per second, /proc for the tunnels' CPU and RSS.
// Every process runs in the testbed world: mesh.destroy() stops them, also when a phase fails.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Mesh, startServer, sweepStale, type PodProcess } from "@weft/test";
import type { Benchmark, BenchContext, BenchResult } from "./bench.js";
import {
  cpuPer1000,
  cpuTicksFromStat,
  evaluateTargets,
  parseFortio,
  parseIperf,
  renderMeshL4,
  rssKiBFromStatus,
  summarizeProfile,
  type CpuFigures,
  type FortioFigures,
  type IperfFigures,
  type MeshL4Scenario,
  type ProfileSummary,
  type RowFigures,
  type RowName,
  type RssFigures,
} from "./mesh-l4/figures.js";

const run = promisify(execFile);
const BENCH_DIR = fileURLToPath(new URL("../../", import.meta.url));
export const FORTIO = process.env.WEFT_FORTIO ?? join(BENCH_DIR, ".cache/bin/fortio");
const IPERF_PORT = 5201;
const HTTP_PORT = 8080;
const ECHO_PORT = 7000;
/** stunnel: the server side listens on these (TLS) and forwards to the real port on its loopback. */
const TLS_OFFSET = 10_000;
/** The Node floor relays (mesh-l4/relay.ts): tls server ports from here (one per app port), h2 one port. */
const NODE_TLS_BASE = 30_000;
const NODE_H2_PORT = 30_100;
/** Client-side loopback addresses: stunnel 127.0.0.1, the Node relays these, so the ports do not clash. */
const NODE_TLS_CLIENT = "127.0.0.2";
const NODE_H2_CLIENT = "127.0.0.3";
const RELAY = fileURLToPath(new URL("./mesh-l4/relay.js", import.meta.url));
/** The relays run with the V8 flags weft's launcher gives the ztunnel (ztunnel/bin/weft-ztunnel). */
const RELAY_NODE_FLAGS = ["--max-semi-space-size=4"];
const CLK_TCK = 100;
/** What --cpu-prof profiles: the fixed-rate phase (default), the connect/close loop, or iperf3 1 stream. */
const PROFILE_PHASE = process.env.WEFT_BENCH_PROFILE_PHASE ?? "fixed";

function profilePhase(s: Settings): string {
  if (PROFILE_PHASE === "connections")
    return `${s.fixedSeconds} s of the new-connection loop (fortio -keepalive=false)`;
  if (PROFILE_PHASE === "throughput") return `${s.iperfSeconds} s of iperf3, 1 stream`;
  return `${s.fixedSeconds} s at ${s.fixedQps} rps`;
}

interface Settings {
  iperfSeconds: number;
  fixedQps: number;
  fixedSeconds: number;
  saturationSeconds: number;
  connSeconds: number;
  connections: number;
  payloadBytes: number;
  held: number;
}

export function settings(quick: boolean): Settings {
  return quick
    ? {
        iperfSeconds: 1,
        fixedQps: 1000,
        fixedSeconds: 2,
        saturationSeconds: 2,
        connSeconds: 1,
        connections: 8,
        payloadBytes: 1024,
        held: 100,
      }
    : {
        iperfSeconds: 5,
        fixedQps: 1000,
        fixedSeconds: 10,
        saturationSeconds: 10,
        connSeconds: 5,
        connections: 8,
        payloadBytes: 1024,
        held: 1000,
      };
}

interface Row {
  readonly name: RowName;
  readonly client: string;
  /** Where the client connects (the server pod, or the client-side stunnel on loopback). */
  readonly host: string;
  /** The tunnel processes whose CPU and RSS are reported, by label. */
  readonly tunnels: () => ReadonlyMap<string, number>;
}

const PODS = [
  { name: "dcli", node: "node-a", enrol: false },
  { name: "dsrv", node: "node-b", enrol: false },
  { name: "mcli", node: "node-a" },
  { name: "msrv", node: "node-b" },
  { name: "msrv-a", node: "node-a" },
] as const;

/** Holds `n` connections to a tcp-echo (each has read the echo's header line), then waits to be killed. */
const HOLD_CLIENT = `
const net = require("net");
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let ready = 0, failed = 0;
const conns = [];
const report = () => { if (ready + failed === n) console.log(JSON.stringify({ held: ready, failed })); };
for (let i = 0; i < n; i++) {
  const s = net.connect({ host, port });
  let seen = false;
  s.on("data", () => { if (!seen) { seen = true; ready++; report(); } });
  s.on("error", () => { if (!seen) { seen = true; failed++; report(); } });
  conns.push(s);
}
setTimeout(() => process.exit(0), 600000);
`;

/** Retries a TCP connect to host:port for 10 s; exit 0 once one succeeds. */
const PROBE_CLIENT = `
const net = require("net");
const [host, port] = [process.argv[1], Number(process.argv[2])];
const deadline = Date.now() + 10000;
const tryOnce = () => {
  const s = net.connect({ host, port });
  s.on("connect", () => { s.destroy(); process.exit(0); });
  s.on("error", (e) => { if (Date.now() > deadline) { console.error(e.message); process.exit(1); } setTimeout(tryOnce, 50); });
};
tryOnce();
`;

async function procCpuSeconds(pid: number): Promise<number> {
  return cpuTicksFromStat(await readFile(`/proc/${pid}/stat`, "utf8")) / CLK_TCK;
}

async function procRssKiB(pid: number): Promise<number> {
  return rssKiBFromStatus(await readFile(`/proc/${pid}/status`, "utf8"));
}

async function rssOf(tunnels: ReadonlyMap<string, number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [label, pid] of tunnels) out[label] = await procRssKiB(pid);
  return out;
}

async function cpuOf(tunnels: ReadonlyMap<string, number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [label, pid] of tunnels) out[label] = await procCpuSeconds(pid);
  return out;
}

function cpuDelta(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
  requests: number,
): CpuFigures {
  const seconds: Record<string, number> = {};
  let total = 0;
  for (const k of Object.keys(before)) {
    const d = Math.round(((after[k] ?? Number.NaN) - before[k]!) * 1000) / 1000;
    seconds[k] = d;
    total += d;
  }
  return { seconds, totalSeconds: Math.round(total * 1000) / 1000, per1000: cpuPer1000(total, requests) };
}

/** The first match of `pattern`'s group 1 in a command's output (some print their version on stderr). */
async function version(cmd: string, args: readonly string[], pattern: RegExp): Promise<string> {
  let text: string;
  try {
    const { stdout, stderr } = await run(cmd, [...args], { timeout: 10_000 });
    text = stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    text = `${e.stdout ?? ""}${e.stderr ?? ""}`;
  }
  return pattern.exec(text)?.[1] ?? "unknown";
}

/** A CA, a server and a client certificate (ECDSA P-256) for the stunnel pair. */
async function makeCerts(dir: string): Promise<void> {
  const ossl = (args: readonly string[]): Promise<unknown> =>
    run("openssl", [...args], { cwd: dir, timeout: 30_000 });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await ossl([
    "req",
    "-x509",
    ...key,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=bench-ca",
  ]);
  for (const who of ["server", "client"]) {
    await writeFile(
      join(dir, `${who}.ext`),
      `subjectAltName=DNS:${who}.bench\nbasicConstraints=CA:FALSE\nextendedKeyUsage=${who === "server" ? "serverAuth" : "clientAuth"}\n`,
    );
    await ossl(["req", ...key, "-keyout", `${who}.key`, "-out", `${who}.csr`, "-subj", `/CN=${who}.bench`]);
    await ossl([
      "x509",
      "-req",
      "-in",
      `${who}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${who}.pem`,
      "-days",
      "2",
      "-extfile",
      `${who}.ext`,
    ]);
  }
}

function stunnelConfig(dir: string, side: "server" | "client", serverIp: string): string {
  const lines = [
    "foreground = yes",
    "pid =",
    "debug = 3",
    `cert = ${join(dir, `${side}.pem`)}`,
    `key = ${join(dir, `${side}.key`)}`,
    `CAfile = ${join(dir, "ca.pem")}`,
    "verifyChain = yes",
    "sslVersionMin = TLSv1.3",
  ];
  if (side === "server") lines.push("requireCert = yes");
  else lines.push("client = yes", "checkHost = server.bench");
  for (const port of [IPERF_PORT, HTTP_PORT, ECHO_PORT]) {
    lines.push(`[p${port}]`);
    if (side === "server") lines.push(`accept = 0.0.0.0:${port + TLS_OFFSET}`, `connect = 127.0.0.1:${port}`);
    else lines.push(`accept = 127.0.0.1:${port}`, `connect = ${serverIp}:${port + TLS_OFFSET}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Waits for `match` in a process's stdout or stderr (fortio and stunnel log to stderr). */
async function waitForLog(proc: PodProcess, match: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout, stderr } = await proc.logs();
    if (stdout.includes(match) || stderr.includes(match)) return;
    if (proc.status !== undefined || Date.now() > deadline) {
      throw new Error(
        `${proc.name} in ${proc.placement.label} did not print ${match}: ${stdout.slice(-500)} ${stderr.slice(-1000)}`,
      );
    }
    await sleep(20);
  }
}

class MeshL4Run {
  readonly rows: RowFigures[] = [];
  #mesh: Mesh | undefined;
  readonly #servers = new Map<string, PodProcess[]>();
  readonly #stunnel = new Map<string, number>();
  readonly #stunnelProcs: PodProcess[] = [];
  readonly #relays = { "node-tls": new Map<string, number>(), "node-h2": new Map<string, number>() };

  constructor(
    readonly ctx: BenchContext,
    readonly s: Settings,
  ) {}

  get mesh(): Mesh {
    if (this.#mesh === undefined) throw new Error("mesh not built");
    return this.#mesh;
  }

  async setUp(): Promise<void> {
    await sweepStale();
    this.#mesh = await Mesh.create({ nodes: ["node-a", "node-b"], pods: [...PODS] });
    const w = this.mesh.world;
    for (const pod of ["dsrv", "msrv", "msrv-a"]) {
      const iperf = await w.spawnInPod(pod, "iperf3", ["-s", "-p", String(IPERF_PORT), "--forceflush"], {
        name: "iperf3-server",
      });
      await waitForLog(iperf, "Server listening");
      const fortio = await w.spawnInPod(
        pod,
        FORTIO,
        [
          "server",
          "-http-port",
          String(HTTP_PORT),
          "-grpc-port",
          "disabled",
          "-redirect-port",
          "disabled",
          "-tcp-port",
          "disabled",
          "-udp-port",
          "disabled",
        ],
        { name: "fortio-server" },
      );
      await waitForLog(fortio, "servers started!");
      const echo = await startServer(w, pod, "tcp-echo", ECHO_PORT);
      this.#servers.set(pod, [iperf, fortio, echo]);
    }
    // Short TIME_WAIT reuse for the connect/close loop (only in the clients' own netns).
    for (const pod of ["dcli", "mcli"]) {
      await w.runInPod(pod, "sysctl", ["-q", "-w", "net.ipv4.tcp_tw_reuse=1"], { name: "sysctl" });
      await w.runInPod(pod, "sysctl", ["-q", "-w", "net.ipv4.ip_local_port_range=1024 65000"], {
        name: "sysctl",
      });
    }
    // The stunnel4 pair: server side in dsrv, client side in dcli (loopback listeners).
    const dir = join(this.mesh.dir, "stunnel");
    await mkdir(dir, { recursive: true });
    await makeCerts(dir);
    for (const [pod, side] of [
      ["dsrv", "server"],
      ["dcli", "client"],
    ] as const) {
      const conf = join(dir, `${side}.conf`);
      await writeFile(conf, stunnelConfig(dir, side, w.pod("dsrv").ipv4));
      const p = await w.spawnInPod(pod, "stunnel4", [conf], { name: `stunnel-${side}` });
      this.#stunnelProcs.push(p);
      this.#stunnel.set(`stunnel-${side}`, p.pid);
    }
    // stunnel logs nothing at debug 3 (notice level would log every connection): probe its ports.
    await this.probe("dsrv", "127.0.0.1", HTTP_PORT + TLS_OFFSET);
    await this.probe("dcli", "127.0.0.1", HTTP_PORT);
    await this.startRelays(dir);
  }

  /** The Node floor pairs, in the stunnel pods with the stunnel certificates. */
  async startRelays(certDir: string): Promise<void> {
    const w = this.mesh.world;
    const apps = [IPERF_PORT, HTTP_PORT, ECHO_PORT].map(String);
    const serverIp = w.pod("dsrv").ipv4;
    const pairs = [
      { row: "node-tls", mode: "tls", port: NODE_TLS_BASE, client: NODE_TLS_CLIENT },
      { row: "node-h2", mode: "h2", port: NODE_H2_PORT, client: NODE_H2_CLIENT },
    ] as const;
    for (const p of pairs) {
      const server = await w.spawnInPod(
        "dsrv",
        process.execPath,
        [...RELAY_NODE_FLAGS, RELAY, p.mode, "server", String(p.port), certDir, ...apps],
        { name: `${p.row}-server` },
      );
      await waitForLog(server, "relay ready");
      const client = await w.spawnInPod(
        "dcli",
        process.execPath,
        [...RELAY_NODE_FLAGS, RELAY, p.mode, "client", p.client, serverIp, String(p.port), certDir, ...apps],
        { name: `${p.row}-client` },
      );
      await waitForLog(client, "relay ready");
      this.#relays[p.row].set(`${p.row}-server`, server.pid).set(`${p.row}-client`, client.pid);
    }
  }

  /** Waits until host:port accepts a TCP connection from inside `pod`. */
  async probe(pod: string, host: string, port: number): Promise<void> {
    const r = await this.mesh.world.runInPod(
      pod,
      process.execPath,
      ["-e", PROBE_CLIENT, host, String(port)],
      {
        name: "probe",
        timeoutMs: 15_000,
      },
    );
    if (r.code !== 0) {
      const logs = await Promise.all(this.#stunnelProcs.map((p) => p.logs()));
      throw new Error(
        `${host}:${port} in ${pod} did not accept connections: ${r.stderr.slice(-300)}; stunnel: ${logs.map((l) => l.stderr.slice(-500)).join(" | ")}`,
      );
    }
  }

  rowsToRun(): Row[] {
    const w = this.mesh.world;
    const zt =
      (...nodes: string[]) =>
      (): ReadonlyMap<string, number> =>
        new Map(nodes.map((n) => [`ztunnel@${n}`, this.mesh.ztunnels.get(n)!.process.pid]));
    return [
      { name: "direct", client: "dcli", host: w.pod("dsrv").ipv4, tunnels: () => new Map() },
      { name: "stunnel4", client: "dcli", host: "127.0.0.1", tunnels: () => this.#stunnel },
      { name: "node-tls", client: "dcli", host: NODE_TLS_CLIENT, tunnels: () => this.#relays["node-tls"] },
      { name: "node-h2", client: "dcli", host: NODE_H2_CLIENT, tunnels: () => this.#relays["node-h2"] },
      { name: "weft-l4", client: "mcli", host: w.pod("msrv").ipv4, tunnels: zt("node-a", "node-b") },
      { name: "weft-same-node", client: "mcli", host: w.pod("msrv-a").ipv4, tunnels: zt("node-a") },
    ];
  }

  async iperf(row: Row, streams: number): Promise<IperfFigures> {
    const args = ["-c", row.host, "-p", String(IPERF_PORT), "-t", String(this.s.iperfSeconds), "-J"];
    if (streams > 1) args.push("-P", String(streams));
    const r = await this.mesh.world.runInPod(row.client, "iperf3", args, {
      name: "iperf3-client",
      timeoutMs: this.s.iperfSeconds * 1000 + 20_000,
    });
    return parseIperf(r.stdout);
  }

  async fortio(row: Row, qps: number, seconds: number, keepalive = true): Promise<FortioFigures> {
    const args = [
      "load",
      "-qps",
      String(qps),
      "-t",
      `${seconds}s`,
      "-c",
      String(this.s.connections),
      "-r",
      "0.00001",
      "-p",
      "50,90,99,99.9",
      "-json",
      "-",
    ];
    if (keepalive) args.push("-payload-size", String(this.s.payloadBytes));
    else args.push("-keepalive=false");
    args.push(`http://${row.host}:${HTTP_PORT}/`);
    const r = await this.mesh.world.runInPod(row.client, FORTIO, args, {
      name: "fortio-load",
      timeoutMs: seconds * 1000 + 30_000,
    });
    return parseFortio(r.stdout);
  }

  async hold(row: Row, n: number): Promise<{ rss: Record<string, number>; stop: () => Promise<void> }> {
    const proc = await this.mesh.world.spawnInPod(
      row.client,
      process.execPath,
      ["-e", HOLD_CLIENT, row.host, String(ECHO_PORT), String(n)],
      {
        name: "hold",
      },
    );
    try {
      const line = await proc.waitForLine('"held"', 60_000);
      const got = JSON.parse(line) as { held: number; failed: number };
      if (got.failed > 0) throw new Error(`${got.failed} of ${n} held connections failed`);
      await sleep(1000);
      return { rss: await rssOf(row.tunnels()), stop: async () => void (await proc.stop(500)) };
    } catch (err) {
      await proc.stop(500);
      throw err;
    }
  }

  async phase<T>(
    row: Row,
    errors: Record<string, string>,
    name: string,
    f: () => Promise<T>,
  ): Promise<T | undefined> {
    this.ctx.log(`mesh-l4: ${row.name}: ${name}`);
    try {
      return await f();
    } catch (err) {
      errors[name] = err instanceof Error ? err.message : String(err);
      this.ctx.log(`mesh-l4: ${row.name}: ${name} failed: ${errors[name]}`);
      return undefined;
    }
  }

  async runRow(row: Row): Promise<RowFigures> {
    const errors: Record<string, string> = {};
    const s = this.s;
    let rss: RssFigures | undefined;
    if (row.tunnels().size > 0) {
      const oneConn = await this.phase(row, errors, "rss", async () => {
        const one = await this.hold(row, 1);
        await one.stop();
        const many = await this.hold(row, s.held);
        await many.stop();
        return { oneConnKiB: one.rss, manyConnKiB: many.rss, held: s.held };
      });
      rss = oneConn;
    }
    const iperf1 = await this.phase(row, errors, "iperf3 1 stream", () => this.iperf(row, 1));
    const iperf8 = await this.phase(row, errors, "iperf3 8 streams", () => this.iperf(row, 8));
    let fixedCpu: CpuFigures | undefined;
    const fixed = await this.phase(row, errors, `fortio ${s.fixedQps} rps`, async () => {
      const before = await cpuOf(row.tunnels());
      const f = await this.fortio(row, s.fixedQps, s.fixedSeconds);
      fixedCpu =
        row.tunnels().size > 0 ? cpuDelta(before, await cpuOf(row.tunnels()), f.requests) : undefined;
      return f;
    });
    let saturationCpu: CpuFigures | undefined;
    const saturation = await this.phase(row, errors, "fortio saturation", async () => {
      const before = await cpuOf(row.tunnels());
      const f = await this.fortio(row, 0, s.saturationSeconds);
      saturationCpu =
        row.tunnels().size > 0 ? cpuDelta(before, await cpuOf(row.tunnels()), f.requests) : undefined;
      return f;
    });
    const newConnections = await this.phase(row, errors, "new connections", () =>
      this.fortio(row, 0, s.connSeconds, false),
    );
    if (rss !== undefined) {
      const after = await this.phase(row, errors, "rss after load", () => rssOf(row.tunnels()));
      if (after !== undefined) rss = { ...rss, afterLoadKiB: after };
    }
    return {
      row: row.name,
      ...(iperf1 && { iperf1 }),
      ...(iperf8 && { iperf8 }),
      ...(fixed && { fixed }),
      ...(fixedCpu && { fixedCpu }),
      ...(saturation && { saturation }),
      ...(saturationCpu && { saturationCpu }),
      ...(newConnections && { newConnections }),
      ...(rss && { rss }),
      errors,
    };
  }

  /** --cpu-prof: one phase of weft-l4 only, with the ztunnels started under --cpu-prof; both profiled. */
  async profile(profileDir: string): Promise<Record<string, ProfileSummary>> {
    const row = this.rowsToRun().find((r) => r.name === "weft-l4")!;
    const nodes = ["node-a", "node-b"];
    const pids = new Map(nodes.map((n) => [n, this.mesh.ztunnels.get(n)!.process.pid]));
    const startUs = Number(process.hrtime.bigint() / 1000n);
    if (PROFILE_PHASE === "connections") await this.fortio(row, 0, this.s.fixedSeconds, false);
    else if (PROFILE_PHASE === "throughput") await this.iperf(row, 1);
    else await this.fortio(row, this.s.fixedQps, this.s.fixedSeconds);
    const endUs = Number(process.hrtime.bigint() / 1000n);
    // The profile is written when ztunnel exits: stop them (they drain) before the world is destroyed.
    const out: Record<string, ProfileSummary> = {};
    for (const node of nodes) {
      await this.mesh.stopZtunnel(node);
      const pid = pids.get(node)!;
      const name = (await readdir(profileDir)).find(
        (f) => f.includes(`.${pid}.`) && f.endsWith(".cpuprofile"),
      );
      if (name === undefined) continue;
      const file = join(profileDir, name);
      out[`ztunnel@${node} (${node === "node-a" ? "outbound" : "inbound"})`] = summarizeProfile(
        file,
        await readFile(file, "utf8"),
        20,
        { startUs, endUs },
      );
    }
    return out;
  }

  async destroy(): Promise<void> {
    await this.#mesh?.destroy();
  }
}

export const meshL4: Benchmark = {
  name: "mesh-l4",
  description:
    "The L4 data path: throughput (iperf3, 1 and 8 streams), latency at a fixed 1000 rps and at saturation " +
    "(fortio, HTTP/1.1, 1 KB), tunnel CPU per 1000 requests, tunnel RSS at 1 and 1000 connections, and new " +
    "connections per second: direct, a stunnel4 mTLS pair, two Node floor pairs (node:tls; a minimal " +
    "HBONE), weft through two ztunnels and on one node.",
  render: renderMeshL4,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const s = settings(ctx.quick);
    if (!existsSync(FORTIO)) {
      throw new Error(`no fortio at ${FORTIO}: scripts/bench.sh builds it (go install fortio.org/fortio)`);
    }
    // Absolute: the ztunnels run with another working directory.
    const profileDir = ctx.profileDir === undefined ? undefined : resolve(ctx.profileDir);
    const profiling = profileDir !== undefined;
    const savedNodeOptions = process.env.NODE_OPTIONS;
    if (profileDir !== undefined) {
      await mkdir(profileDir, { recursive: true });
      // The mesh passes process.env to the ztunnels (and the controller: its profile is ignored).
      process.env.NODE_OPTIONS = `${savedNodeOptions ?? ""} --cpu-prof --cpu-prof-dir=${profileDir}`.trim();
    }
    const r = new MeshL4Run(ctx, s);
    let profiles: Record<string, ProfileSummary> | undefined;
    try {
      await r.setUp();
      if (profileDir !== undefined) {
        process.env.NODE_OPTIONS = savedNodeOptions;
        if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
        profiles = await r.profile(profileDir);
      } else {
        for (const row of r.rowsToRun()) r.rows.push(await r.runRow(row));
      }
    } finally {
      if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = savedNodeOptions;
      await r.destroy();
    }
    const scenario: MeshL4Scenario = {
      kind: "mesh-l4",
      quick: ctx.quick,
      settings: {
        ...s,
        fortio: await version(FORTIO, ["version"], /^(\S+)/),
        iperf3: await version("iperf3", ["--version"], /iperf (\S+)/),
        stunnel: await version("stunnel4", ["-version"], /stunnel (\S+)/),
      },
      rows: r.rows,
      targets: profiling ? [] : evaluateTargets(r.rows),
      ...(profiling ? {} : { floorTargets: evaluateTargets(r.rows, "node-h2") }),
      ...(profiles && { profiles, profilePhase: profilePhase(s) }),
    };
    return {
      name: "mesh-l4",
      description: meshL4.description,
      scenarios: [scenario],
      markdown: renderMeshL4([scenario]),
    };
  },
};
