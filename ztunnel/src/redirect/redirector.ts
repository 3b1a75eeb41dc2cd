// The Redirector: loads weft's eBPF objects (maps pinned and shared under the pin root), enrols
// pods (in-pod listeners, map entries, links pinned per pod), unenrols them, and on start re-adopts
// the pods a previous process left captured, garbage-collecting those whose netns is gone.
//
// Ordering rules that keep capture fail-closed (never a plaintext bypass):
//  - enrol: record → listeners → map entries → links; a failure undoes everything done so far;
//  - unenrol: links first (capture stops), then map entries, listeners, record;
//  - restart: the pins keep capturing while no process listens: connect() to :15001 is refused and
//    sk_lookup drops inbound (the sockhash entries died with the old sockets) until re-adopted.
import type dgram from "node:dgram";
import { existsSync, readdirSync, rmdirSync, statSync } from "node:fs";
import net from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isWeftError, requireCapabilities, weftError, type CapabilityName, type Logger } from "@weft/core";
import { parseCidr } from "@weft/state";
import {
  BpfLink,
  BpfObject,
  DEFAULT_PIN_ROOT,
  LISTENER_KIND,
  WEFT_MAPS,
  ensurePinRoot,
  netnsCookie,
  openPinnedMap,
  readReasonCounters,
  setUpOriginalSource,
  socketInNetns,
  takeDownOriginalSource,
  closeFd,
  type BpfMap,
  type ConnKey,
  type Endpoint,
  type MapSpec,
  type ListenerKey,
  type OrigDst,
  type PodInfo,
  type Reason,
} from "@weft/native";
import {
  FAIL_CLOSED_HANDLERS,
  closeListener,
  openListener,
  plainAddress,
  podListeners,
  type OpenListener,
  type PodHandlers,
  type PodListeners,
} from "./listeners.js";
import {
  DEFAULT_PORTS,
  attachmentPlan,
  decideEnrol,
  listenerPlan,
  normalizePodSpec,
  podHealth,
  validatePodSpec,
  type Attachment,
  type PodRecord,
  type PodSpec,
  type Ports,
} from "./pod.js";
import { knownUids, pinnedNames, podPinDir, readRecord, removeRecord, writeRecord } from "./records.js";
import { releaseNetnsSockets } from "../proxy/sockets.js";

export const REDIRECT_CAPABILITIES: readonly CapabilityName[] = [
  "CAP_BPF",
  "CAP_NET_ADMIN",
  "CAP_SYS_ADMIN",
  "CAP_SYS_PTRACE",
];

export const DEFAULT_STATE_DIR = "/run/weft/pods";

export interface RedirectorOptions {
  /** bpffs directory for maps and per-pod links; default /sys/fs/bpf/weft. */
  readonly pinRoot?: string;
  /** Where per-pod records live; default /run/weft/pods. */
  readonly stateDir?: string;
  /** Directory of the *.bpf.o objects; default bpf/out of the source tree. */
  readonly bpfDir?: string;
  /** Capture UDP/53 to the in-pod DNS proxy (:15053). */
  readonly dns?: boolean;
  /** Deny apps binding ztunnel's ports (bind.bpf.o); default true. */
  readonly denyBind?: boolean;
  readonly ports?: Ports;
  /**
   * Destinations never captured outbound (weft_exclude, e.g. a cloud metadata address or a CIDR
   * that must bypass the mesh): CIDRs or bare IPs, IPv4 or IPv6. The configured list is
   * authoritative: on start the pinned map is made to hold exactly these. Default none.
   */
  readonly excludeCidrs?: readonly string[];
  /**
   * Inbound sources that reach the app uncaptured (weft_probe_allow: the address kubelet's probes
   * come from, e.g. a link-local SNAT address). CIDRs or bare IPs; authoritative like
   * excludeCidrs. Default none.
   */
  readonly probeSources?: readonly string[];
  /**
   * Set up each pod netns so ztunnel can connect to its apps from the client's own IP
   * (setUpOriginalSource; the dials go through registerOriginalSourceDial). Default false here;
   * the agent's WEFT_ORIGINAL_SOURCE defaults to true.
   */
  readonly originalSource?: boolean;
  /** What to do with captured connections; default FAIL_CLOSED_HANDLERS. */
  readonly handlers?: PodHandlers;
  /** The process's capabilities, for tests; default its CapEff. */
  readonly capabilities?: ReadonlySet<string>;
  readonly logger?: Logger;
}

export interface AdoptionReport {
  /** Pods found live and served again. */
  readonly adopted: string[];
  /** Pods whose netns (or cgroup) was gone: their pins, map entries and records were removed. */
  readonly collected: string[];
  /** Pods left as they were (still captured, fail closed) because re-adopting them failed. */
  readonly failed: { uid: string; error: string }[];
}

interface Enrolled {
  readonly record: PodRecord;
  readonly listeners: OpenListener[];
  readonly view: PodListeners;
}

/** bpf/out of the source tree, from ztunnel/src/redirect or ztunnel/dist/src/redirect. */
export function defaultBpfDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, "../../../bpf/out"), resolve(here, "../../../../bpf/out")];
  return candidates.find((d) => existsSync(join(d, "connect.bpf.o"))) ?? candidates[0]!;
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function notFound(what: string, path: string, fix: string): Error {
  return weftError("WEFT_E_NOT_FOUND", `${what} ${path} does not exist`, { path }, { fix });
}

/** Validated CIDR texts (bare IPs become host prefixes), or WEFT_E_INVALID_INPUT naming the bad ones. */
export function cidrList(list: readonly string[] | undefined, what: string): string[] {
  const out: string[] = [];
  const bad: string[] = [];
  for (const text of list ?? []) {
    const c = parseCidr(text.trim());
    if (c === undefined) bad.push(JSON.stringify(text));
    else out.push(`${c.address}/${c.prefix}`);
  }
  if (bad.length > 0) {
    throw weftError(
      "WEFT_E_INVALID_INPUT",
      `${what}: ${bad.join(", ")} ${bad.length === 1 ? "is not a CIDR" : "are not CIDRs"}`,
      { invalid: bad },
      { fix: "give IPv4/IPv6 CIDRs or bare IPs, comma-separated, e.g. 169.254.169.254/32,fd00:ec2::254" },
    );
  }
  return out;
}

/** Make a pinned LPM map hold exactly `cidrs` (value 1): add the missing, then drop the others. */
function syncCidrMap(pinRoot: string, spec: MapSpec<string, number>, cidrs: readonly string[]): void {
  const map = openPinnedMap(pinRoot, spec);
  try {
    const wanted = new Set(cidrs.map((c) => spec.key.encode(c).toString("hex")));
    for (const c of cidrs) map.update(c, 1);
    for (const key of [...map.keys()]) {
      if (!wanted.has(spec.key.encode(key).toString("hex"))) map.delete(key);
    }
  } finally {
    map.close();
  }
}

export class Redirector {
  readonly pinRoot: string;
  readonly stateDir: string;
  readonly dns: boolean;
  readonly denyBind: boolean;
  readonly ports: Ports;
  readonly adoption: AdoptionReport;
  readonly #objects: ReadonlyMap<Attachment["object"], BpfObject>;
  readonly #origConn: BpfMap<ConnKey, OrigDst>;
  readonly #podIps: BpfMap<string, PodInfo>;
  readonly #listeners: BpfMap<ListenerKey, bigint>;
  readonly #stats: BpfMap<number, bigint[]>;
  readonly #origSrc: BpfMap<ConnKey, number>;
  readonly originalSource: boolean;
  /** Pods (by netns cookie) whose netns is set up for original-source dials, and for which families. */
  readonly #originalSourceReady = new Map<string, { readonly ipv6: boolean }>();
  readonly #handlers: PodHandlers;
  readonly #log: Logger | undefined;
  readonly #pods = new Map<string, Enrolled>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(
    opts: Required<
      Pick<RedirectorOptions, "pinRoot" | "stateDir" | "dns" | "denyBind" | "ports" | "originalSource">
    >,
    objects: Map<Attachment["object"], BpfObject>,
    handlers: PodHandlers,
    log: Logger | undefined,
  ) {
    this.pinRoot = opts.pinRoot;
    this.stateDir = opts.stateDir;
    this.dns = opts.dns;
    this.denyBind = opts.denyBind;
    this.ports = opts.ports;
    this.originalSource = opts.originalSource;
    this.#objects = objects;
    this.#handlers = handlers;
    this.#log = log;
    this.#origConn = openPinnedMap(this.pinRoot, WEFT_MAPS.origConn);
    this.#podIps = openPinnedMap(this.pinRoot, WEFT_MAPS.podIps);
    this.#listeners = openPinnedMap(this.pinRoot, WEFT_MAPS.listeners);
    this.#stats = openPinnedMap(this.pinRoot, WEFT_MAPS.stats);
    this.#origSrc = openPinnedMap(this.pinRoot, WEFT_MAPS.origSrc);
    this.adoption = { adopted: [], collected: [], failed: [] };
  }

  /**
   * Check privileges and bpffs, load the objects (reusing maps pinned by a previous process), and
   * re-adopt or garbage-collect the pods found under the pin root.
   */
  static async start(options: RedirectorOptions = {}): Promise<Redirector> {
    const excludeCidrs = cidrList(options.excludeCidrs, "excludeCidrs (WEFT_EXCLUDE_CIDRS)");
    const probeSources = cidrList(options.probeSources, "probeSources (WEFT_PROBE_SOURCES)");
    requireCapabilities(REDIRECT_CAPABILITIES, "redirect pod traffic with eBPF", options.capabilities);
    const pinRoot = ensurePinRoot(options.pinRoot ?? DEFAULT_PIN_ROOT);
    const bpfDir = options.bpfDir ?? defaultBpfDir();
    const dns = options.dns ?? false;
    const denyBind = options.denyBind ?? true;
    const ports = options.ports ?? DEFAULT_PORTS;
    const rodata = {
      connect: { outbound_port: ports.outbound },
      sockops: {},
      getpeername: {},
      sk_lookup: { hbone_port: ports.hbone },
      dns: { dns_proxy_port: ports.dns },
      bind: {
        outbound_port: ports.outbound,
        inbound_port: ports.inbound,
        hbone_port: ports.hbone,
        dns_proxy_port: ports.dns,
      },
    } as const;
    const wanted = new Set(attachmentPlan({ dns, denyBind }).map((a) => a.object));
    const objects = new Map<Attachment["object"], BpfObject>();
    try {
      for (const name of wanted) {
        const path = join(bpfDir, `${name}.bpf.o`);
        if (!existsSync(path)) {
          throw notFound("eBPF object", path, "build the objects with make -C bpf, or set WEFT_BPF_DIR");
        }
        objects.set(name, BpfObject.load(path, { pinRoot, rodata: rodata[name] }));
      }
    } catch (err) {
      objects.forEach((o) => o.close());
      throw err;
    }
    try {
      syncCidrMap(pinRoot, WEFT_MAPS.exclude, excludeCidrs);
      syncCidrMap(pinRoot, WEFT_MAPS.probeAllow, probeSources);
    } catch (err) {
      objects.forEach((o) => o.close());
      throw err;
    }
    const redirector = new Redirector(
      {
        pinRoot,
        stateDir: options.stateDir ?? DEFAULT_STATE_DIR,
        dns,
        denyBind,
        ports,
        originalSource: options.originalSource ?? false,
      },
      objects,
      options.handlers ?? FAIL_CLOSED_HANDLERS,
      options.logger,
    );
    await redirector.#serial(() => redirector.#adoptAll());
    return redirector;
  }

  /** Enrolled pods, by uid. */
  pods(): PodRecord[] {
    return [...this.#pods.values()].map((p) => p.record);
  }

  pod(uid: string): PodListeners | undefined {
    return this.#pods.get(uid)?.view;
  }

  /**
   * Capture a pod. Same uid and same netns as an enrolled pod: returns it (a retried CNI ADD).
   * Same uid with another netns, or an IP of another enrolled pod: WEFT_E_CONFLICT.
   */
  enroll(spec: PodSpec): Promise<PodListeners> {
    const invalid = validatePodSpec(spec);
    if (invalid !== undefined) return Promise.reject(invalid);
    return this.#serial(() => this.#enroll(normalizePodSpec(spec)));
  }

  /** Release a pod (by uid, or by the runtime's container id). Idempotent: false when unknown. */
  unenroll(uidOrContainerId: string): Promise<boolean> {
    return this.#serial(async () => {
      const uid =
        this.#pods.has(uidOrContainerId) || readRecord(this.stateDir, uidOrContainerId) !== undefined
          ? uidOrContainerId
          : [...this.#pods.values()].find((p) => p.record.containerId === uidOrContainerId)?.record.uid;
      if (uid === undefined) return false;
      const known = this.#pods.has(uid) || existsSync(podPinDir(this.pinRoot, uid));
      await this.#teardown(uid, this.#pods.get(uid)?.record ?? readRecord(this.stateDir, uid));
      return known;
    });
  }

  /**
   * The original destination of a connection accepted on a pod's :15001, taken (looked up and
   * deleted) from weft_orig_conn. `netnsCookie` is the pod's (PodRecord.netnsCookie).
   */
  originalDestination(socket: net.Socket, netnsCookie: bigint): OrigDst | undefined {
    return this.#origConn.take(connKeyOf(socket, netnsCookie));
  }

  /** The pod's netns is set up for original-source dials (and the option is on). */
  originalSourceReady(pod: PodRecord): boolean {
    return this.#originalSourceReady.has(pod.netnsCookie);
  }

  /**
   * Registers ztunnel's dial to an app of `pod`, from the client's `src` (bound already) to `dst`,
   * so sk_lookup lets exactly that SYN through to the app instead of capturing it again. Returns
   * the release, to call once connected or failed (the LRU map bounds what a crash leaves).
   */
  registerOriginalSourceDial(pod: PodRecord, src: Endpoint, dst: Endpoint): () => void {
    const key: ConnKey = { netnsCookie: BigInt(pod.netnsCookie), src, dst };
    this.#origSrc.update(key, 0);
    let released = false;
    return () => {
      if (released || this.#closed) return;
      released = true;
      this.#origSrc.delete(key);
    };
  }

  /**
   * The programs' pass/redirect/drop counters (bpf/include/reasons.h), summed over CPUs and over
   * every pod on the node, for the weft_* redirect metrics.
   */
  reasonCounters(): Record<Reason, bigint> {
    return readReasonCounters(this.#stats);
  }

  /** Stop serving (listeners, maps, objects). Pins stay: pods remain captured, fail closed. */
  async close(): Promise<void> {
    await this.#serial(() => {
      if (this.#closed) return;
      this.#closed = true;
      for (const p of this.#pods.values()) p.listeners.forEach(closeListener);
      this.#pods.clear();
      [this.#origConn, this.#podIps, this.#listeners, this.#stats, this.#origSrc].forEach((m) => m.close());
      this.#objects.forEach((o) => o.close());
    });
  }

  // --- internals -------------------------------------------------------------------------------

  #serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#closed) throw weftError("WEFT_E_UNAVAILABLE", "the redirector is closed");
      return fn();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #enroll(spec: PodSpec): Promise<PodListeners> {
    const netnsIno = inodeOf(spec.netnsPath);
    if (netnsIno === undefined) {
      throw notFound(
        "network namespace",
        spec.netnsPath,
        "pass the pod's netns path (/proc/<pid>/ns/net or /run/netns/<name>) while the pod exists",
      );
    }
    if (!existsSync(join(spec.cgroupPath, "cgroup.procs"))) {
      throw notFound("cgroup v2 directory", spec.cgroupPath, "pass the pod's cgroup v2 directory");
    }
    const records = new Map([...this.#pods].map(([uid, p]) => [uid, p.record]));
    const decision = decideEnrol(spec, netnsIno, records);
    if (decision.action === "conflict") throw decision.error;
    if (decision.action === "existing") return this.#pods.get(spec.uid)!.view;

    const cookie = await netnsCookie(spec.netnsPath);
    const record: PodRecord = {
      version: 1,
      ...spec,
      netnsCookie: cookie.toString(),
      netnsIno,
      enrolledAt: new Date().toISOString(),
    };
    writeRecord(this.stateDir, record);
    let listeners: OpenListener[] = [];
    try {
      listeners = await this.#serve(record);
      this.#program(record, listeners);
      this.#reconcileLinks(record);
    } catch (err) {
      listeners.forEach(closeListener);
      await this.#teardown(record.uid, record);
      throw err;
    }
    return this.#remember(record, listeners);
  }

  #remember(record: PodRecord, listeners: OpenListener[]): PodListeners {
    const view = podListeners(record, listeners);
    this.#pods.set(record.uid, { record, listeners, view });
    this.#log?.info(
      { uid: record.uid, pod: `${record.namespace}/${record.name}`, ips: record.ips },
      "pod enrolled",
    );
    return view;
  }

  /** Open the in-pod listeners of a pod and wire them to the handlers. */
  async #serve(record: PodRecord): Promise<OpenListener[]> {
    const ipv6 = await hasIpv6(record.netnsPath);
    if (this.originalSource) {
      // Not fatal: without it the pod is still served, connected to from 127.0.0.6 as before.
      try {
        await setUpOriginalSource(record.netnsPath, { ipv6 });
        this.#originalSourceReady.set(record.netnsCookie, { ipv6 });
      } catch (err) {
        this.#log?.warn(
          {
            err,
            uid: record.uid,
            pod: `${record.namespace}/${record.name}`,
            fix: "the agent needs CAP_NET_ADMIN and a kernel with policy routing (ip rule) in the pod's netns; set WEFT_ORIGINAL_SOURCE=false to connect from 127.0.0.6 without trying",
          },
          "cannot set up original-source routing in the pod; its apps will see connections from 127.0.0.6",
        );
      }
    }
    const plan = listenerPlan(this.ports, { dns: this.dns, ipv6 });
    const cookie = BigInt(record.netnsCookie);
    const h = this.#handlers;
    const out: OpenListener[] = [];
    try {
      for (const spec of plan) {
        const onTcp = (socket: net.Socket): void => {
          switch (spec.role) {
            case "outbound": {
              const original = this.originalDestination(socket, cookie);
              // Not redirected by connect4/6 (an app dialling :15001 itself), or the record was lost:
              // nowhere to send it, so refuse rather than guess.
              if (original === undefined) socket.resetAndDestroy();
              else h.outbound(socket, { pod: record, original });
              return;
            }
            case "inbound":
            case "hbone": {
              const destination = { address: plainAddress(socket.localAddress), port: socket.localPort ?? 0 };
              h[spec.role](socket, { pod: record, destination });
              return;
            }
            case "dns":
              if (h.dnsTcp === undefined) socket.resetAndDestroy();
              else h.dnsTcp(socket, { pod: record });
          }
        };
        const onUdp = (socket: dgram.Socket, msg: Buffer, from: dgram.RemoteInfo): void => {
          h.dnsUdp?.(msg, {
            pod: record,
            from,
            reply: (answer) => socket.send(answer, from.port, from.address),
          });
        };
        const onError = (err: Error): void =>
          this.#log?.error(
            { err, uid: record.uid, listener: `${spec.address}:${spec.port}/${spec.type}` },
            "listener error",
          );
        out.push(
          await openListener(
            record.netnsPath,
            spec,
            guard(onTcp, this.#log),
            guard(onUdp, this.#log),
            onError,
          ),
        );
      }
    } catch (err) {
      out.forEach(closeListener);
      if (isWeftError(err) && /EADDRNOTAVAIL/.test(err.message)) {
        throw weftError(
          "WEFT_E_NETNS",
          `cannot open ztunnel's listeners in pod ${record.uid}'s netns ${record.netnsPath}: ${err.reason}`,
          { uid: record.uid },
          {
            cause: err,
            fix: "bring the pod's loopback up before enrolling it (runtimes run the CNI loopback plugin first)",
          },
        );
      }
      throw err;
    }
    return out;
  }

  /** Map entries: the pod's IPs, and its :15006/:15008 sockets in the sockhash for sk_lookup. */
  #program(record: PodRecord, listeners: readonly OpenListener[]): void {
    const netnsCookie = BigInt(record.netnsCookie);
    for (const ip of record.ips) this.#podIps.update(ip, { netnsCookie, flags: 0 });
    for (const kind of ["plaintext", "hbone"] as const) {
      const role = kind === "plaintext" ? "inbound" : "hbone";
      const l = listeners.find((x) => x.spec.role === role);
      if (l === undefined) continue;
      for (const address of record.ips) this.#listeners.setSocket({ address, kind }, l.fd);
    }
  }

  /** Attach and pin every planned program that is not pinned yet; unpin those no longer planned. */
  #reconcileLinks(record: PodRecord): void {
    const dir = podPinDir(this.pinRoot, record.uid);
    ensurePinRoot(dir);
    const plan = attachmentPlan({ dns: this.dns, denyBind: this.denyBind });
    const pinned = new Set(pinnedNames(this.pinRoot, record.uid));
    for (const a of plan) {
      if (pinned.has(a.pin)) continue;
      const obj = this.#objects.get(a.object);
      if (obj === undefined) throw weftError("WEFT_E_INTERNAL", `object ${a.object} is not loaded`);
      const prog = obj.program(a.program);
      const link =
        a.target === "cgroup" ? prog.attachCgroup(record.cgroupPath) : prog.attachNetns(record.netnsPath);
      try {
        link.pin(join(dir, a.pin));
      } finally {
        link.close(); // the pin holds the attachment now
      }
    }
    const planned = new Set(plan.map((a) => a.pin));
    for (const name of pinned) if (!planned.has(name)) releaseLink(join(dir, name));
  }

  /** Remove everything of a pod: links (capture stops), map entries, listeners, record. */
  async #teardown(uid: string, record: PodRecord | undefined): Promise<void> {
    const dir = podPinDir(this.pinRoot, uid);
    // sk_lookup last: until the cgroup hooks are gone, inbound stays captured, never plaintext.
    const names = pinnedNames(this.pinRoot, uid).sort((a, b) =>
      a === "weft_sk_lookup" ? 1 : b === "weft_sk_lookup" ? -1 : 0,
    );
    for (const name of names) releaseLink(join(dir, name));
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
    if (record !== undefined) {
      const cookie = BigInt(record.netnsCookie);
      for (const ip of record.ips) {
        // Only our own entry: the IP may already belong to a newer pod.
        if (this.#podIps.lookup(ip)?.netnsCookie === cookie) this.#podIps.delete(ip);
        for (const kind of Object.keys(LISTENER_KIND) as (keyof typeof LISTENER_KIND)[]) {
          if (this.#pods.has(uid)) this.#listeners.delete({ address: ip, kind });
        }
      }
    }
    this.#pods.get(uid)?.listeners.forEach(closeListener);
    // Sockets kept ready in the pod's netns for its connections (proxy/sockets.ts).
    if (record !== undefined) releaseNetnsSockets(record.netnsPath);
    // A pod that lives on uncaptured must not keep our routing: its answers to a marked socket
    // would go to lo. Usually the netns is gone already; then there is nothing to undo.
    const routing = record && this.#originalSourceReady.get(record.netnsCookie);
    if (record !== undefined && routing !== undefined) {
      this.#originalSourceReady.delete(record.netnsCookie);
      if (inodeOf(record.netnsPath) === record.netnsIno) {
        await takeDownOriginalSource(record.netnsPath, routing).catch((err: unknown) =>
          this.#log?.warn({ err, uid }, "cannot take down original-source routing in the pod"),
        );
      }
    }
    this.#pods.delete(uid);
    removeRecord(this.stateDir, uid);
    await Promise.resolve();
  }

  async #adoptAll(): Promise<void> {
    const report = this.adoption;
    for (const uid of knownUids(this.stateDir, this.pinRoot)) {
      try {
        const outcome = await this.#adopt(uid);
        (outcome === "adopted" ? report.adopted : report.collected).push(uid);
        this.#log?.info({ uid }, outcome === "adopted" ? "pod re-adopted" : "pod garbage-collected");
      } catch (err) {
        const error = isWeftError(err) ? err.message : String(err);
        report.failed.push({ uid, error });
        this.#log?.error({ uid, err }, "cannot re-adopt pod; it stays captured (fail closed)");
      }
    }
  }

  async #adopt(uid: string): Promise<"adopted" | "collected"> {
    const record = readRecord(this.stateDir, uid);
    const skLookupPin = join(podPinDir(this.pinRoot, uid), "weft_sk_lookup");
    const linkIno = existsSync(skLookupPin) ? pinnedNetnsIno(skLookupPin) : undefined;
    if (record === undefined) {
      // Pins without a record: only safe to remove once the netns is gone.
      if (linkIno === undefined || linkIno === 0) {
        await this.#teardown(uid, undefined);
        return "collected";
      }
      throw weftError(
        "WEFT_E_NOT_FOUND",
        `pod ${uid} is pinned but has no record in ${this.stateDir}`,
        { uid },
        {
          fix: `unenroll it (POST /unenroll {"uid":"${uid}"}) or re-enrol it`,
        },
      );
    }
    const health = podHealth({
      recordIno: record.netnsIno,
      pathIno: inodeOf(record.netnsPath),
      linkIno,
      cgroupExists: existsSync(record.cgroupPath),
    });
    if (health === "gone") {
      await this.#teardown(uid, record);
      return "collected";
    }
    const cookie = await netnsCookie(record.netnsPath);
    const current: PodRecord = { ...record, netnsCookie: cookie.toString() };
    if (current.netnsCookie !== record.netnsCookie) writeRecord(this.stateDir, current);
    const listeners = await this.#serve(current);
    try {
      this.#program(current, listeners);
      this.#reconcileLinks(current);
    } catch (err) {
      listeners.forEach(closeListener);
      throw err;
    }
    this.#remember(current, listeners);
    return "adopted";
  }
}

/**
 * A handler that throws must cost one connection, not the process that serves every pod: log it
 * and reset the socket (a TCP handler's first argument is the accepted socket).
 */
function guard<A extends unknown[]>(fn: (...args: A) => void, log: Logger | undefined): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      log?.error({ err }, "connection handler threw; connection reset");
      const first = args[0];
      if (first instanceof net.Socket && !first.destroyed) first.resetAndDestroy();
    }
  };
}

/** {netns cookie, 4-tuple} of a socket accepted on :15001, as sockops keyed it. */
export function connKeyOf(socket: net.Socket, netnsCookie: bigint): ConnKey {
  return {
    netnsCookie,
    src: { address: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 },
    dst: { address: socket.localAddress ?? "", port: socket.localPort ?? 0 },
  };
}

/** The netns inode a pinned sk_lookup link is attached to: 0 once that netns is destroyed. */
function pinnedNetnsIno(path: string): number {
  const link = BpfLink.openPinned(path);
  try {
    return link.info().netnsIno ?? 0;
  } finally {
    link.close();
  }
}

/** Detach a pinned link now (unpinning alone detaches only when the kernel drops the last ref). */
function releaseLink(path: string): void {
  try {
    const link = BpfLink.openPinned(path);
    try {
      link.detach();
    } catch {
      // already detached: its cgroup or netns is gone
    } finally {
      link.close();
    }
  } catch {
    // not a link we can open; unpinning below still removes it
  }
  try {
    BpfLink.unpin(path);
  } catch (err) {
    if (existsSync(path)) throw err;
  }
}

/** Whether the netns has IPv6 (a udp6 socket binds to ::1). */
async function hasIpv6(netnsPath: string): Promise<boolean> {
  try {
    closeFd(await socketInNetns(netnsPath, { family: 6, type: "udp", address: "::1", port: 0 }));
    return true;
  } catch {
    return false;
  }
}
