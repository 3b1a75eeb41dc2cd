// A whole L4 mesh on the netns testbed: the real weft-controller (file source) and one real
// weft-ztunnel process per node, pods enrolled through each ztunnel's enrol API (what the CNI
// plugin does), apps in the pods. Everything is removed by destroy(), also when a step fails:
// processes (the world stops them), pods unenrolled, pin roots, state and config directories.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AgentClient } from "@weft/ztunnel";
import { createWorld, type PodProcess, type World } from "../netns/index.js";

// test/dist/src/mesh → the repository root.
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const CONTROLLER_MAIN = join(ROOT, "controller/dist/src/main.js");
// The launcher, not main.js: it carries the V8 flags the ztunnel ships with.
const ZTUNNEL_BIN = join(ROOT, "ztunnel/bin/weft-ztunnel");
export const CONTROLLER_NAME = "weft-controller.weft-system.svc";
export const XDS_PORT = 15012;

export interface MeshPodSpec {
  readonly name: string;
  readonly node: string;
  readonly namespace?: string;
  readonly serviceAccount?: string;
  /** `app` label (Service selectors match it); default the pod name. */
  readonly app?: string;
  /** Enrol in the mesh (default true). A pod that is not enrolled is a plain, uncaptured client. */
  readonly enrol?: boolean;
}

export interface MeshServiceSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly vip: string;
  readonly ports: readonly { readonly port: number; readonly targetPort: number }[];
  /** The `app` label it selects. */
  readonly app: string;
}

export interface MeshSpec {
  readonly nodes: readonly string[];
  readonly pods: readonly MeshPodSpec[];
  readonly services?: readonly MeshServiceSpec[];
  /** More YAML for the config dir (policies...). */
  readonly extraYaml?: string;
  /** WEFT_CERT_TTL for the ztunnels, e.g. "1m" for rotation tests; default 24h. */
  readonly certTtl?: string;
  readonly logLevel?: string;
  /** Capture pods' DNS (UDP/53, TCP/53) into ztunnel's proxy; upstream for other names. */
  readonly dns?: { readonly upstreams: readonly string[] };
  /** More environment for every ztunnel (applied last), e.g. { WEFT_ORIGINAL_SOURCE: "false" }. */
  readonly ztunnelEnv?: Readonly<Record<string, string>>;
}

export const DEFAULT_NAMESPACE = "shop";

/** A node's ztunnel pin root: named after the run, so a sweep of the run finds it. */
export function pinRootOf(world: World, node: string): string {
  return `/sys/fs/bpf/weft-t-mesh-${world.runId}-${node}`;
}

function podYaml(p: MeshPodSpec, ipv4: string, ipv6: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${p.name}
  namespace: ${p.namespace ?? DEFAULT_NAMESPACE}
  uid: ${podUid(p)}
  labels: { app: ${p.app ?? p.name} }
spec:
  nodeName: ${p.node}
  serviceAccountName: ${p.serviceAccount ?? p.name}
  containers: [{ name: app }]
status:
  phase: Running
  podIP: ${ipv4}
  podIPs: [{ ip: ${ipv4} }, { ip: "${ipv6}" }]
  conditions: [{ type: Ready, status: "True" }]
`;
}

export function podUid(p: MeshPodSpec): string {
  return `uid-${p.namespace ?? DEFAULT_NAMESPACE}-${p.name}`;
}

function serviceYaml(s: MeshServiceSpec): string {
  const ports = s.ports
    .map((p) => `{ name: p${p.port}, port: ${p.port}, targetPort: ${p.targetPort} }`)
    .join(", ");
  return `apiVersion: v1
kind: Service
metadata: { name: ${s.name}, namespace: ${s.namespace ?? DEFAULT_NAMESPACE} }
spec:
  clusterIP: ${s.vip}
  selector: { app: ${s.app} }
  ports: [${ports}]
`;
}

export interface ZtunnelProcess {
  readonly node: string;
  readonly process: PodProcess;
  readonly agent: AgentClient;
  readonly pinRoot: string;
}

export class Mesh {
  readonly ztunnels = new Map<string, ZtunnelProcess>();
  controller: PodProcess | undefined;

  private constructor(
    readonly world: World,
    readonly spec: MeshSpec,
    readonly dir: string,
    readonly tokens: ReadonlyMap<string, string>,
  ) {}

  get configDir(): string {
    return join(this.dir, "config");
  }
  get caDir(): string {
    return join(this.dir, "ca");
  }
  get rootCertFile(): string {
    // A generated root is written as ca-cert.pem (self-signed: it is the root).
    return join(this.caDir, "ca-cert.pem");
  }
  /** Where the controller listens (node-a's wire address, reachable from every node). */
  get xdsAddress(): string {
    return `${this.world.node(this.spec.nodes[0]!).wireIpv4}:${XDS_PORT}`;
  }

  static async create(spec: MeshSpec): Promise<Mesh> {
    const world = await createWorld({
      nodes: [...spec.nodes],
      pods: spec.pods.map((p) => ({ name: p.name, node: p.node })),
    });
    const dir = await mkdtemp(join(tmpdir(), "weft-mesh-"));
    // Owned by the world: removed with it even when this process is interrupted or killed.
    await world.own(dir);
    for (const node of spec.nodes) await world.own(pinRootOf(world, node));
    const tokens = new Map(spec.nodes.map((n) => [n, `ztunnel-${n}-${randomBytes(16).toString("hex")}`]));
    const mesh = new Mesh(world, spec, dir, tokens);
    try {
      await mesh.#start();
    } catch (err) {
      await mesh.destroy();
      throw err;
    }
    return mesh;
  }

  /** A pod's spec. */
  podSpec(name: string): MeshPodSpec {
    const p = this.spec.pods.find((x) => x.name === name);
    if (p === undefined) throw new Error(`no pod ${name} in the mesh spec`);
    return p;
  }

  async #start(): Promise<void> {
    await this.#writeConfig();
    const first = this.spec.nodes[0]!;
    this.controller = await this.world.spawnOnNode(
      first,
      process.execPath,
      [
        CONTROLLER_MAIN,
        "--config-dir",
        this.configDir,
        "--ca-dir",
        this.caDir,
        "--xds-address",
        `0.0.0.0:${XDS_PORT}`,
        "--admin-address",
        "127.0.0.1:15014",
      ],
      { name: "controller", env: { ...process.env, WEFT_LOG_LEVEL: "info" } },
    );
    await this.controller.waitForLine('"msg":"weft-controller serving"', 20_000);
    for (const node of this.spec.nodes) await this.#startZtunnel(node);
    for (const p of this.spec.pods) if (p.enrol !== false) await this.enrol(p.name);
  }

  async #writeConfig(): Promise<void> {
    const namespaces = [...new Set(this.spec.pods.map((p) => p.namespace ?? DEFAULT_NAMESPACE))];
    const docs: string[] = [
      ...namespaces.map(
        (ns) => `apiVersion: v1
kind: Namespace
metadata: { name: ${ns}, labels: { weft.dev/dataplane-mode: ambient } }
`,
      ),
      `apiVersion: weft.dev/v1alpha1
kind: WeftTokenList
metadata: { name: tokens }
tokens:
${[...this.tokens].map(([node, token]) => `  - { token: ${token}, serviceAccount: weft-system/ztunnel, nodeName: ${node} }`).join("\n")}
`,
      // A pod outside the mesh is not in the config at all: to the mesh it is an unknown address.
      ...this.spec.pods
        .filter((p) => p.enrol !== false)
        .map((p) => podYaml(p, this.world.pod(p.name).ipv4, this.world.pod(p.name).ipv6)),
      ...(this.spec.services ?? []).map(serviceYaml),
    ];
    await rm(this.configDir, { recursive: true, force: true });
    await mkdir(this.configDir, { recursive: true });
    await mkdir(this.caDir, { recursive: true });
    await writeFile(join(this.configDir, "mesh.yaml"), docs.join("---\n"));
    if (this.spec.extraYaml !== undefined)
      await writeFile(join(this.configDir, "extra.yaml"), this.spec.extraYaml);
    for (const [node, token] of this.tokens) {
      const file = join(this.dir, `token-${node}`);
      await writeFile(file, token);
      await chmod(file, 0o600);
    }
  }

  /** Adds or replaces a file of the config dir (the controller watches it). */
  async writeConfigFile(name: string, yaml: string): Promise<void> {
    await writeFile(join(this.configDir, name), yaml);
  }

  /** SIGTERM a node's ztunnel and wait for it to exit (it drains; the pins stay). */
  async stopZtunnel(node: string): Promise<{ code: number | null; signal: string | null }> {
    const z = this.ztunnels.get(node);
    if (z === undefined) throw new Error(`no ztunnel on ${node}`);
    process.kill(z.process.pid, "SIGTERM");
    return z.process.exited;
  }

  /** Starts a new ztunnel on `node` with the same settings (it re-adopts the pinned pods). */
  async restartZtunnel(node: string): Promise<void> {
    await this.#startZtunnel(node);
  }

  async #startZtunnel(node: string): Promise<void> {
    const pinRoot = pinRootOf(this.world, node);
    const socket = join(this.dir, `${node}-cni.sock`);
    // `ip netns exec` remounts /sys, hiding bpffs and cgroup2; re-entering the host mount namespace
    // gives ztunnel what a DaemonSet gets from hostPath mounts. nsenter and the launcher exec: same PID.
    const proc = await this.world.spawnOnNode(
      node,
      "nsenter",
      [`--mount=/proc/${process.pid}/ns/mnt`, "--", ZTUNNEL_BIN],
      {
        name: "ztunnel",
        env: {
          ...process.env,
          WEFT_LOG_LEVEL: this.spec.logLevel ?? "info",
          WEFT_NODE_NAME: node,
          WEFT_XDS_ADDRESS: this.xdsAddress,
          WEFT_CA_ADDRESS: this.xdsAddress,
          WEFT_CA_SERVER_NAME: CONTROLLER_NAME,
          WEFT_CA_ROOT_FILE: this.rootCertFile,
          WEFT_CA_TOKEN_FILE: join(this.dir, `token-${node}`),
          WEFT_PIN_ROOT: pinRoot,
          WEFT_STATE_DIR: join(this.dir, `${node}-pods`),
          WEFT_CNI_SOCKET: socket,
          WEFT_CERT_TTL: this.spec.certTtl ?? "24h",
          WEFT_DRAIN_TIMEOUT: "2s",
          ...(this.spec.dns !== undefined
            ? { WEFT_DNS_CAPTURE: "true", WEFT_DNS_UPSTREAMS: this.spec.dns.upstreams.join(",") }
            : {}),
          ...this.spec.ztunnelEnv,
        },
      },
    );
    await proc.waitForLine('"msg":"first configuration applied from xDS; ready"', 20_000);
    this.ztunnels.set(node, { node, process: proc, agent: new AgentClient(socket, 10_000), pinRoot });
  }

  /** Enrols a pod with its node's ztunnel, as the CNI plugin would. */
  async enrol(name: string): Promise<void> {
    const p = this.podSpec(name);
    const plan = this.world.pod(name);
    const z = this.ztunnels.get(p.node);
    if (z === undefined) throw new Error(`no ztunnel on ${p.node}`);
    await z.agent.enroll({
      uid: podUid(p),
      name: p.name,
      namespace: p.namespace ?? DEFAULT_NAMESPACE,
      netnsPath: `/run/netns/${plan.netns}`,
      cgroupPath: plan.cgroup,
      ips: [plan.ipv4, plan.ipv6],
    });
  }

  /** GET a URL from inside a node netns (the ztunnel's metrics, readiness and admin listen there). */
  async fetchOnNode(node: string, url: string, method = "GET"): Promise<{ status: number; body: string }> {
    const script = `fetch(process.argv[1], { method: process.argv[2] }).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { process.stdout.write(JSON.stringify({ status: 0, body: String(e) })); });`;
    const proc = await this.world.spawnOnNode(node, process.execPath, ["-e", script, url, method], {
      name: "fetch",
    });
    const timer = setTimeout(() => void proc.stop(200), 10_000);
    try {
      await proc.exited;
      const { stdout } = await proc.logs();
      return JSON.parse(stdout || '{"status":0,"body":"no output"}') as { status: number; body: string };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Prometheus text from a node's ztunnel :15020. */
  async scrape(node: string): Promise<string> {
    const r = await this.fetchOnNode(node, "http://127.0.0.1:15020/metrics");
    if (r.status !== 200) throw new Error(`scrape of ${node} failed: ${r.status} ${r.body}`);
    return r.body;
  }

  async destroy(): Promise<void> {
    for (const z of this.ztunnels.values()) {
      for (const p of this.spec.pods) {
        if (p.node === z.node && p.enrol !== false)
          await z.agent.unenroll({ uid: podUid(p) }).catch(() => undefined);
      }
    }
    await this.world.destroy();
    for (const z of this.ztunnels.values()) rmSync(z.pinRoot, { recursive: true, force: true });
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Sum of a Prometheus counter's samples whose labels include all of `match`. */
export function metricSum(text: string, name: string, match: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const brace = line.indexOf("{");
    const labels = brace >= 0 ? line.slice(brace + 1, line.lastIndexOf("}")) : "";
    const ok = Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`));
    if (ok) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
export * from "./clients.js";
export * from "./hbone-client.js";
