// Pods as the redirector knows them: the enrol request, its validation, the record persisted next
// to the pins, and the plan of programs and listeners per pod. Everything here is pure data and
// pure functions; redirector.ts does the I/O.
import { isIP } from "node:net";
import { weftError, type WeftError } from "@weft/core";
import { encodeAddr, readAddr } from "@weft/native";

/** What the CNI plugin (through the agent) or a caller knows about a pod when enrolling it. */
export interface PodSpec {
  /** Kubernetes pod UID (or the container id for runtimes without pods): names the pin directory. */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** The pod's network namespace: /proc/<pid>/ns/net or /run/netns/<name>. */
  readonly netnsPath: string;
  /** The pod's cgroup v2 directory (every container of the pod is below it). */
  readonly cgroupPath: string;
  /** The pod's IPs (IPv4 and/or IPv6). */
  readonly ips: readonly string[];
  /** The runtime's sandbox id, so a CNI DEL that knows only it finds the pod. */
  readonly containerId?: string;
}

/** An enrolled pod: the spec plus the identity of its netns, as persisted in <stateDir>/<uid>.json. */
export interface PodRecord extends PodSpec {
  readonly version: 1;
  /** SO_NETNS_COOKIE of the pod netns (decimal string: JSON has no u64). */
  readonly netnsCookie: string;
  /** Inode of the pod netns: tells a live netns from a recycled path after a restart. */
  readonly netnsIno: number;
  readonly enrolledAt: string;
}

// UIDs name a directory under bpffs and a file under the state dir: no separators, no dot-dot.
const UID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Canonical text of an IP (lowercase, compressed IPv6; IPv4 dotted even when given v4-mapped). */
export function canonicalIp(ip: string): string {
  return readAddr(encodeAddr(ip), 0, 4);
}

/** Problems with an enrol request, or undefined. Pure, so it is table-tested. */
export function validatePodSpec(spec: unknown): WeftError | undefined {
  const bad = (what: string): WeftError =>
    weftError("WEFT_E_INVALID_INPUT", `invalid enrol request: ${what}`, undefined, {
      fix: "send { uid, name, namespace, netnsPath, cgroupPath, ips: [...] } with absolute paths and IP addresses",
    });
  if (typeof spec !== "object" || spec === null) return bad("not an object");
  const s = spec as Record<string, unknown>;
  if (typeof s["uid"] !== "string" || !UID_PATTERN.test(s["uid"])) {
    return bad(
      `uid ${JSON.stringify(s["uid"])} must be 1-128 characters of [A-Za-z0-9._-], not starting with '.'`,
    );
  }
  for (const key of ["name", "namespace"] as const) {
    if (typeof s[key] !== "string") return bad(`${key} must be a string`);
  }
  for (const key of ["netnsPath", "cgroupPath"] as const) {
    const v = s[key];
    if (typeof v !== "string" || !v.startsWith("/") || v.includes("\0")) {
      return bad(`${key} ${JSON.stringify(v)} must be an absolute path`);
    }
  }
  const ips = s["ips"];
  if (!Array.isArray(ips) || ips.length === 0) return bad("ips must be a non-empty list");
  for (const ip of ips) {
    if (typeof ip !== "string" || isIP(ip) === 0) return bad(`${JSON.stringify(ip)} is not an IP address`);
  }
  if (s["containerId"] !== undefined && typeof s["containerId"] !== "string") {
    return bad("containerId must be a string");
  }
  return undefined;
}

/** The spec with canonical, de-duplicated IPs. */
export function normalizePodSpec(spec: PodSpec): PodSpec {
  const ips = [...new Set(spec.ips.map(canonicalIp))];
  const out: PodSpec = {
    uid: spec.uid,
    name: spec.name,
    namespace: spec.namespace,
    netnsPath: spec.netnsPath,
    cgroupPath: spec.cgroupPath,
    ips,
  };
  return spec.containerId === undefined ? out : { ...out, containerId: spec.containerId };
}

export type EnrolDecision =
  | { readonly action: "enroll" }
  /** Same uid, same netns: enrolment is idempotent (a CNI ADD retried by the runtime). */
  | { readonly action: "existing" }
  | { readonly action: "conflict"; readonly error: WeftError };

/**
 * Decide what an enrol request means given the pods already enrolled. Same uid + same netns
 * (by inode: paths differ between /proc/<pid>/ns/net and /run/netns/x) is the same pod again;
 * same uid + another netns, or an IP held by another pod, is a conflict.
 */
export function decideEnrol(
  spec: PodSpec,
  netnsIno: number,
  enrolled: ReadonlyMap<string, PodRecord>,
): EnrolDecision {
  const same = enrolled.get(spec.uid);
  if (same !== undefined) {
    if (same.netnsIno === netnsIno) return { action: "existing" };
    return {
      action: "conflict",
      error: weftError(
        "WEFT_E_CONFLICT",
        `pod ${spec.uid} (${same.namespace}/${same.name}) is already enrolled with network namespace ${same.netnsPath} (inode ${same.netnsIno}), not ${spec.netnsPath} (inode ${netnsIno})`,
        { uid: spec.uid },
        { fix: "unenroll the old pod first (CNI DEL) or use the pod's current uid" },
      ),
    };
  }
  for (const other of enrolled.values()) {
    const shared = other.ips.filter((ip) => spec.ips.includes(ip));
    if (shared.length > 0) {
      return {
        action: "conflict",
        error: weftError(
          "WEFT_E_CONFLICT",
          `IP ${shared.join(", ")} of pod ${spec.uid} is held by enrolled pod ${other.uid} (${other.namespace}/${other.name})`,
          { uid: spec.uid, holder: other.uid },
          { fix: "unenroll the pod that held the IP first (its CNI DEL may not have run)" },
        ),
      };
    }
  }
  return { action: "enroll" };
}

/** One program attachment of a pod; `pin` is its file name under <pinRoot>/pods/<uid>/. */
export interface Attachment {
  readonly object: "connect" | "sockops" | "getpeername" | "sk_lookup" | "dns" | "bind";
  readonly program: string;
  readonly target: "cgroup" | "netns";
  readonly pin: string;
}

export interface CaptureOptions {
  readonly dns: boolean;
  readonly denyBind: boolean;
}

function cgroupProgs(object: Attachment["object"], programs: readonly string[]): Attachment[] {
  return programs.map((program) => ({ object, program, target: "cgroup", pin: program }));
}

/** Every attachment an enrolled pod gets, in attach order (listeners exist before any of them). */
export function attachmentPlan(opts: CaptureOptions): Attachment[] {
  return [
    ...cgroupProgs("sockops", ["weft_sockops"]),
    ...cgroupProgs("getpeername", ["weft_getpeername4", "weft_getpeername6"]),
    ...cgroupProgs("connect", ["weft_connect4", "weft_connect6"]),
    ...(opts.dns
      ? cgroupProgs("dns", [
          "weft_dns_recvmsg4",
          "weft_dns_recvmsg6",
          "weft_dns_getpeername4",
          "weft_dns_getpeername6",
          "weft_dns_connect4",
          "weft_dns_connect6",
          "weft_dns_sendmsg4",
          "weft_dns_sendmsg6",
        ])
      : []),
    ...(opts.denyBind ? cgroupProgs("bind", ["weft_bind4", "weft_bind6"]) : []),
    { object: "sk_lookup", program: "weft_sk_lookup", target: "netns", pin: "weft_sk_lookup" },
  ];
}

/** ztunnel's ports in a pod netns (DESIGN §2). */
export interface Ports {
  readonly outbound: number;
  readonly inbound: number;
  readonly hbone: number;
  readonly dns: number;
}

export const DEFAULT_PORTS: Ports = { outbound: 15001, inbound: 15006, hbone: 15008, dns: 15053 };

export type ListenerRole = "outbound" | "inbound" | "hbone" | "dns";

/** One socket ztunnel makes inside a pod netns. */
export interface ListenerSpec {
  readonly role: ListenerRole;
  readonly family: 4 | 6;
  readonly type: "tcp" | "udp";
  readonly address: string;
  readonly port: number;
  readonly v6only: boolean;
}

/**
 * The in-pod sockets: 15001 on 127.0.0.1 and ::1 (connect4/6 rewrite there), 15006 and 15008 on
 * [::] dual-stack (sk_lookup assigns any pod IP to them), 15053 UDP and TCP on 127.0.0.1 and ::1.
 * Without IPv6 in the pod netns the v6 loopbacks are left out and [::] becomes 0.0.0.0.
 */
export function listenerPlan(ports: Ports, opts: { dns: boolean; ipv6: boolean }): ListenerSpec[] {
  const loopbacks = (role: ListenerRole, type: "tcp" | "udp", port: number): ListenerSpec[] => [
    { role, family: 4, type, address: "127.0.0.1", port, v6only: false },
    ...(opts.ipv6 ? [{ role, family: 6 as const, type, address: "::1", port, v6only: true }] : []),
  ];
  const any = (role: ListenerRole, port: number): ListenerSpec =>
    opts.ipv6
      ? { role, family: 6, type: "tcp", address: "::", port, v6only: false }
      : { role, family: 4, type: "tcp", address: "0.0.0.0", port, v6only: false };
  return [
    ...loopbacks("outbound", "tcp", ports.outbound),
    any("inbound", ports.inbound),
    any("hbone", ports.hbone),
    ...(opts.dns ? [...loopbacks("dns", "udp", ports.dns), ...loopbacks("dns", "tcp", ports.dns)] : []),
  ];
}

export type PodHealth = "live" | "gone";

/**
 * Is a pod found after a restart still there? Its netns path must still lead to the netns it was
 * enrolled with (same inode), the sk_lookup link must still be attached to a live netns (inode 0
 * once the kernel destroyed it), and its cgroup directory must exist.
 */
export function podHealth(facts: {
  recordIno: number;
  pathIno: number | undefined;
  linkIno: number | undefined;
  cgroupExists: boolean;
}): PodHealth {
  if (facts.pathIno === undefined || facts.pathIno !== facts.recordIno) return "gone";
  if (facts.linkIno !== undefined && facts.linkIno !== facts.recordIno) return "gone";
  if (!facts.cgroupExists) return "gone";
  return "live";
}
