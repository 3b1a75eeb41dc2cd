// Topology spec → validated plan (pure). The plan is plain data holding every name and address a
// world will use, so the whole thing is checked before the first namespace is created and the
// record of a run can list what it will create.
import { testbedError, type WeftError } from "./errors.js";

export interface PodSpec {
  readonly name: string;
  readonly node: string;
}

export interface TopologySpec {
  /** Node names, in order; node i gets pod CIDR 10.<run>.<i+1>.0/24 and fd77:<run>:<..i+1>::/64. */
  readonly nodes: readonly string[];
  readonly pods: readonly PodSpec[];
  /** 6 lowercase hex digits; random when omitted. Fixed ids are for tests (collisions, sweeps). */
  readonly runId?: string;
}

/** Node and pod names: a short DNS label, so netns, cgroup and log names stay readable. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
export const MAX_NAME_LENGTH = 15;
export const RUN_ID_PATTERN = /^[0-9a-f]{6}$/;
/** Node i uses third octet i+1; octet 0 is the wire between nodes. */
export const MAX_NODES = 250;
/** Pods take host numbers .2 upwards (.1 is the node's bridge); .254 is the last usable one. */
export const MAX_PODS_PER_NODE = 253;

export interface NodePlan {
  readonly name: string;
  readonly index: number;
  readonly netns: string;
  /** cgroup for processes run "on the node" (e.g. ztunnel); a sibling of the pod cgroups. */
  readonly cgroup: string;
  readonly bridge: string;
  /** The node's uplink on the wire (inside the node netns). */
  readonly uplink: string;
  readonly wireIpv4: string;
  readonly wireIpv6: string;
  readonly podCidrV4: string;
  readonly podCidrV6: string;
  readonly bridgeIpv4: string;
  readonly bridgeIpv6: string;
}

export interface PodPlan {
  readonly name: string;
  readonly node: string;
  readonly netns: string;
  readonly cgroup: string;
  /** Interface inside the pod netns, named like a Kubernetes pod's. */
  readonly iface: string;
  /** The veth end inside the node netns, enslaved to the node bridge. */
  readonly hostVeth: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly gatewayIpv4: string;
  readonly gatewayIpv6: string;
}

export interface WorldPlan {
  readonly runId: string;
  /** `weft-<runId>`: every netns, cgroup, temp dir and record of the run starts with it. */
  readonly prefix: string;
  readonly wireNetns: string;
  readonly wireBridge: string;
  readonly cgroupRoot: string;
  readonly nodes: readonly NodePlan[];
  readonly pods: readonly PodPlan[];
}

export const STANDARD_TOPOLOGY: TopologySpec = {
  nodes: ["node-a", "node-b"],
  pods: [
    { name: "pod-a1", node: "node-a" },
    { name: "pod-a2", node: "node-a" },
    { name: "pod-b1", node: "node-b" },
    { name: "pod-b2", node: "node-b" },
  ],
};

/** Every problem in the spec at once, each naming the field and the fix; empty when valid. */
export function specProblems(spec: TopologySpec): string[] {
  const problems: string[] = [];
  const checkName = (field: string, name: unknown): void => {
    if (typeof name !== "string" || name.length === 0) {
      problems.push(`${field} is missing: give it a name like "node-a"`);
    } else if (name.length > MAX_NAME_LENGTH) {
      problems.push(`${field} "${name}" is ${name.length} characters: use at most ${MAX_NAME_LENGTH}`);
    } else if (!NAME_PATTERN.test(name)) {
      problems.push(
        `${field} "${name}" has invalid characters: use lowercase letters, digits and inner "-" only`,
      );
    }
  };
  if (!Array.isArray(spec.nodes) || spec.nodes.length === 0) {
    problems.push("nodes is empty: list at least one node name");
  }
  if (!Array.isArray(spec.pods)) problems.push("pods is not a list: give [] or a list of {name, node}");
  // The spec may come from JSON or a test table, so fields are checked as unknown values.
  const nodes: readonly unknown[] = Array.isArray(spec.nodes) ? (spec.nodes as readonly unknown[]) : [];
  const pods: readonly unknown[] = Array.isArray(spec.pods) ? (spec.pods as readonly unknown[]) : [];
  if (nodes.length > MAX_NODES) {
    problems.push(`nodes has ${nodes.length} entries: the address plan allows at most ${MAX_NODES}`);
  }
  if (spec.runId !== undefined && !RUN_ID_PATTERN.test(spec.runId)) {
    problems.push(`runId "${spec.runId}" is not 6 lowercase hex digits: omit it to get a random one`);
  }
  const nodeNames = new Set<unknown>();
  nodes.forEach((name, i) => {
    checkName(`nodes[${i}]`, name);
    if (nodeNames.has(name))
      problems.push(`nodes[${i}] "${String(name)}" is a duplicate: node names must be unique`);
    nodeNames.add(name);
  });
  const podNames = new Set<unknown>();
  const podsPerNode = new Map<unknown, number>();
  pods.forEach((entry, i) => {
    const pod = (typeof entry === "object" && entry !== null ? entry : {}) as {
      name?: unknown;
      node?: unknown;
    };
    checkName(`pods[${i}].name`, pod.name);
    if (podNames.has(pod.name)) {
      problems.push(`pods[${i}].name "${String(pod.name)}" is a duplicate: pod names must be unique`);
    }
    podNames.add(pod.name);
    if (!nodeNames.has(pod.node)) {
      const known = [...nodeNames].map((n) => `"${String(n)}"`).join(", ") || "(no nodes)";
      problems.push(`pods[${i}].node "${String(pod.node)}" is not a node: use one of ${known}`);
    } else {
      podsPerNode.set(pod.node, (podsPerNode.get(pod.node) ?? 0) + 1);
    }
  });
  for (const [node, count] of podsPerNode) {
    if (count > MAX_PODS_PER_NODE) {
      problems.push(
        `node "${String(node)}" has ${count} pods: the address plan (/24 per node) allows at most ${MAX_PODS_PER_NODE}`,
      );
    }
  }
  return problems;
}

export function validateSpec(spec: TopologySpec): WeftError | undefined {
  const problems = specProblems(spec);
  if (problems.length === 0) return undefined;
  return testbedError(
    "WEFT_E_TOPOLOGY",
    `bad testbed topology: ${problems.join("; ")}`,
    "fix the listed fields of the topology spec",
    { problems },
  );
}

/**
 * RFC 5952 text for an IPv6 address (lowercase, no leading zeros, longest zero run as "::"), the
 * form the kernel and Node report, so planned addresses compare equal to observed ones. The WHATWG
 * URL parser serializes IPv6 hosts exactly this way.
 */
export function canonicalIpv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** Lays out names and addresses. Assumes `validateSpec(spec)` passed. */
export function planWorld(spec: TopologySpec, runId: string, cgroup2Mount: string): WorldPlan {
  const prefix = `weft-${runId}`;
  const octet = parseInt(runId.slice(0, 2), 16);
  // fd77:<run hex 0-4>:<run hex 4-6><node byte>::/64 keeps two concurrent runs apart in v6 as well.
  const v6Base = `fd77:${runId.slice(0, 4)}`;
  const v6Net = (nodeByte: number): string =>
    `${v6Base}:${runId.slice(4, 6)}${nodeByte.toString(16).padStart(2, "0")}`;
  const v6 = (nodeByte: number, host: number | ""): string =>
    canonicalIpv6(`${v6Net(nodeByte)}::${host === "" ? "" : host.toString(16)}`);
  const cgroupRoot = `${cgroup2Mount}/${prefix}`;
  const nodes = spec.nodes.map((name, index): NodePlan => {
    const n = index + 1;
    return {
      name,
      index,
      netns: `${prefix}-n-${name}`,
      cgroup: `${cgroupRoot}/node.${name}`,
      bridge: `wb${runId}`,
      uplink: "eth0",
      wireIpv4: `10.${octet}.0.${n}`,
      wireIpv6: v6(0, n),
      podCidrV4: `10.${octet}.${n}.0/24`,
      podCidrV6: `${v6(n, "")}/64`,
      bridgeIpv4: `10.${octet}.${n}.1`,
      bridgeIpv6: v6(n, 1),
    };
  });
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const nextHost = new Map<string, number>();
  const pods = spec.pods.map((pod): PodPlan => {
    const node = byName.get(pod.node);
    if (node === undefined) throw new Error(`planWorld: unknown node ${pod.node}; validate the spec first`);
    const k = nextHost.get(node.name) ?? 0;
    nextHost.set(node.name, k + 1);
    const host = k + 2;
    return {
      name: pod.name,
      node: node.name,
      netns: `${prefix}-p-${pod.name}`,
      cgroup: `${cgroupRoot}/${pod.name}`,
      iface: "eth0",
      hostVeth: `wv${runId}p${k}`,
      ipv4: `10.${octet}.${node.index + 1}.${host}`,
      ipv6: v6(node.index + 1, host),
      gatewayIpv4: node.bridgeIpv4,
      gatewayIpv6: node.bridgeIpv6,
    };
  });
  return { runId, prefix, wireNetns: `${prefix}-wire`, wireBridge: `wb${runId}`, cgroupRoot, nodes, pods };
}

/**
 * iproute2 batch scripts (one per netns, in order) that wire up a planned world whose namespaces
 * exist. Pure, so the exact commands are visible in tests and in a failure message.
 */
export function wiringScripts(plan: WorldPlan): { netns: string; lines: string[] }[] {
  const scripts: { netns: string; lines: string[] }[] = [];
  const wire: string[] = [
    `link add ${plan.wireBridge} type bridge`,
    `link set ${plan.wireBridge} up`,
    `link set lo up`,
  ];
  plan.nodes.forEach((node, i) => {
    const end = `wv${plan.runId}n${i}`;
    wire.push(
      `link add ${end} type veth peer name ${node.uplink} netns ${node.netns}`,
      `link set ${end} master ${plan.wireBridge}`,
      `link set ${end} up`,
    );
  });
  scripts.push({ netns: plan.wireNetns, lines: wire });
  for (const node of plan.nodes) {
    const lines = [
      `link set lo up`,
      `link set ${node.uplink} up`,
      `address add ${node.wireIpv4}/24 dev ${node.uplink}`,
      `address add ${node.wireIpv6}/64 dev ${node.uplink} nodad`,
      `link add ${node.bridge} type bridge`,
      `link set ${node.bridge} up`,
      `address add ${node.bridgeIpv4}/24 dev ${node.bridge}`,
      `address add ${node.bridgeIpv6}/64 dev ${node.bridge} nodad`,
    ];
    for (const pod of plan.pods.filter((p) => p.node === node.name)) {
      lines.push(
        `link add ${pod.hostVeth} type veth peer name ${pod.iface} netns ${pod.netns}`,
        `link set ${pod.hostVeth} master ${node.bridge}`,
        `link set ${pod.hostVeth} up`,
      );
    }
    for (const other of plan.nodes) {
      if (other === node) continue;
      lines.push(
        `route add ${other.podCidrV4} via ${other.wireIpv4}`,
        `route add ${other.podCidrV6} via ${other.wireIpv6}`,
      );
    }
    scripts.push({ netns: node.netns, lines });
  }
  for (const pod of plan.pods) {
    scripts.push({
      netns: pod.netns,
      lines: [
        `link set lo up`,
        `link set ${pod.iface} up`,
        `address add ${pod.ipv4}/24 dev ${pod.iface}`,
        `address add ${pod.ipv6}/64 dev ${pod.iface} nodad`,
        `route add default via ${pod.gatewayIpv4}`,
        `route add default via ${pod.gatewayIpv6}`,
      ],
    });
  }
  return scripts;
}

/**
 * Sysctls per netns, written before any address exists: nodes forward both families, and DAD is
 * off everywhere so IPv6 addresses are usable at once (addresses also carry `nodad`).
 */
export function sysctlsFor(plan: WorldPlan): { netns: string; settings: Record<string, string> }[] {
  const noDad = {
    "net/ipv6/conf/all/accept_dad": "0",
    "net/ipv6/conf/default/accept_dad": "0",
  };
  return [
    { netns: plan.wireNetns, settings: { ...noDad } },
    ...plan.nodes.map((n) => ({
      netns: n.netns,
      settings: {
        ...noDad,
        "net/ipv4/ip_forward": "1",
        "net/ipv6/conf/all/forwarding": "1",
      },
    })),
    ...plan.pods.map((p) => ({ netns: p.netns, settings: { ...noDad } })),
  ];
}
