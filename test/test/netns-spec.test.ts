// Pure parts of the netns testbed: spec validation, the address plan, the iproute2 scripts, the
// privilege check and /proc parsing. No privileges needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  canonicalIpv6,
  capabilityProblem,
  parseStartTime,
  planWorld,
  rootOnlyOptions,
  specProblems,
  STANDARD_TOPOLOGY,
  validateSpec,
  wiringScripts,
  WeftError,
  type TopologySpec,
} from "@weft/test";

const pods = (n: number, node = "a"): { name: string; node: string }[] =>
  Array.from({ length: n }, (_, i) => ({ name: `p${i}`, node }));

const BAD_SPECS: { name: string; spec: TopologySpec; mentions: string[] }[] = [
  { name: "no nodes", spec: { nodes: [], pods: [] }, mentions: ["nodes is empty"] },
  {
    name: "pod on unknown node",
    spec: { nodes: ["a"], pods: [{ name: "p", node: "zz" }] },
    mentions: ['pods[0].node "zz" is not a node', 'use one of "a"'],
  },
  {
    name: "duplicate pod names",
    spec: {
      nodes: ["a"],
      pods: [
        { name: "p", node: "a" },
        { name: "p", node: "a" },
      ],
    },
    mentions: ['pods[1].name "p" is a duplicate'],
  },
  {
    name: "duplicate node names",
    spec: { nodes: ["a", "a"], pods: [] },
    mentions: ['nodes[1] "a" is a duplicate'],
  },
  {
    name: "name too long",
    spec: { nodes: ["a"], pods: [{ name: "a-very-long-pod-name", node: "a" }] },
    mentions: ["pods[0].name", "20 characters", "at most 15"],
  },
  {
    name: "invalid characters",
    spec: { nodes: ["Node_A"], pods: [] },
    mentions: ['nodes[0] "Node_A" has invalid characters', "lowercase letters"],
  },
  { name: "trailing dash", spec: { nodes: ["a-"], pods: [] }, mentions: ["invalid characters"] },
  {
    name: "too many nodes",
    spec: { nodes: Array.from({ length: 251 }, (_, i) => `n${i}`), pods: [] },
    mentions: ["251 entries", "at most 250"],
  },
  {
    name: "too many pods on a node",
    spec: { nodes: ["a"], pods: pods(254) },
    mentions: ["254 pods", "at most 253"],
  },
  {
    name: "bad run id",
    spec: { nodes: ["a"], pods: [], runId: "XYZ" },
    mentions: ["runId", "6 lowercase hex"],
  },
  {
    name: "pod without a name",
    spec: { nodes: ["a"], pods: [{ node: "a" } as unknown as { name: string; node: string }] },
    mentions: ["pods[0].name is missing"],
  },
];

for (const { name, spec, mentions } of BAD_SPECS) {
  void test(`validateSpec rejects: ${name}`, () => {
    const err = validateSpec(spec);
    assert.ok(err instanceof WeftError, "expected a WeftError");
    assert.equal(err.code, "WEFT_E_TOPOLOGY");
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    assert.ok(err.message.includes(" — "), "message carries the fix");
  });
}

void test("validateSpec reports every problem at once", () => {
  const problems = specProblems({ nodes: ["a", "a"], pods: [{ name: "X", node: "b" }] });
  assert.equal(problems.length, 3, problems.join("\n"));
});

void test("validateSpec accepts the standard topology and the address plan's limits", () => {
  assert.equal(validateSpec(STANDARD_TOPOLOGY), undefined);
  assert.equal(validateSpec({ nodes: ["a"], pods: pods(253) }), undefined);
  assert.equal(validateSpec({ nodes: ["a"], pods: [], runId: "0a1b2c" }), undefined);
});

void test("planWorld lays out names and both address families per node", () => {
  const plan = planWorld(STANDARD_TOPOLOGY, "1f2e3d", "/sys/fs/cgroup/unified");
  assert.equal(plan.prefix, "weft-1f2e3d");
  assert.equal(plan.cgroupRoot, "/sys/fs/cgroup/unified/weft-1f2e3d");
  const [a, b] = plan.nodes;
  assert.deepEqual(
    [a?.podCidrV4, a?.podCidrV6, b?.podCidrV4, b?.podCidrV6],
    ["10.31.1.0/24", "fd77:1f2e:3d01::/64", "10.31.2.0/24", "fd77:1f2e:3d02::/64"],
  );
  const byName = Object.fromEntries(plan.pods.map((p) => [p.name, p]));
  assert.equal(byName["pod-a1"]?.ipv4, "10.31.1.2");
  assert.equal(byName["pod-a2"]?.ipv6, "fd77:1f2e:3d01::3");
  assert.equal(byName["pod-b1"]?.ipv4, "10.31.2.2");
  assert.equal(byName["pod-b1"]?.gatewayIpv6, "fd77:1f2e:3d02::1");
  assert.equal(byName["pod-b2"]?.cgroup, "/sys/fs/cgroup/unified/weft-1f2e3d/pod-b2");
  for (const p of plan.pods) assert.ok(p.netns.startsWith("weft-1f2e3d-"), p.netns);
  // Every interface name must fit IFNAMSIZ (15 characters + NUL).
  const ifaces = [
    plan.wireBridge,
    ...plan.nodes.flatMap((n) => [n.bridge, n.uplink]),
    ...plan.pods.flatMap((p) => [p.hostVeth, p.iface]),
  ];
  for (const i of ifaces) assert.ok(i.length <= 15, `${i} is longer than 15`);
  const big = planWorld({ nodes: ["a"], pods: pods(253) }, "ffffff", "/cg");
  assert.equal(big.pods.at(-1)?.ipv4, "10.255.1.254");
  assert.ok((big.pods.at(-1)?.hostVeth.length ?? 99) <= 15);
});

void test("planned IPv6 addresses are in the canonical form sockets report", () => {
  const plan = planWorld({ nodes: ["a"], pods: [{ name: "p", node: "a" }] }, "000001", "/cg");
  assert.equal(plan.nodes[0]?.podCidrV6, "fd77:0:101::/64");
  assert.equal(plan.nodes[0]?.wireIpv6, "fd77:0:100::1");
  assert.equal(plan.pods[0]?.ipv6, "fd77:0:101::2");
  assert.equal(planWorld({ nodes: ["a"], pods: [] }, "010500", "/cg").nodes[0]?.bridgeIpv6, "fd77:105:1::1");
  assert.equal(canonicalIpv6("FD77:0000:0000:0001:0:0:0:2"), "fd77:0:0:1::2");
});

void test("wiringScripts route each node to the others' pod CIDRs and give pods default routes", () => {
  const plan = planWorld(STANDARD_TOPOLOGY, "1f2e3d", "/cg");
  const scripts = wiringScripts(plan);
  assert.equal(scripts[0]?.netns, plan.wireNetns, "the wire goes first: it creates the node uplinks");
  const nodeA = scripts.find((s) => s.netns === plan.nodes[0]?.netns);
  assert.ok(nodeA?.lines.includes("route add 10.31.2.0/24 via 10.31.0.2"));
  assert.ok(nodeA?.lines.includes("route add fd77:1f2e:3d02::/64 via fd77:1f2e:3d00::2"));
  assert.ok(nodeA?.lines.some((l) => l.endsWith("nodad")));
  const podA1 = scripts.find((s) => s.netns === "weft-1f2e3d-p-pod-a1");
  assert.deepEqual(
    podA1?.lines.filter((l) => l.startsWith("route")),
    ["route add default via 10.31.1.1", "route add default via fd77:1f2e:3d01::1"],
  );
});

const ALL = new Set(["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_KILL", "CAP_BPF"]);
const without = (cap: string): Set<string> => new Set([...ALL].filter((c) => c !== cap));
const CAP_TABLE: { name: string; uid: number; capabilities: ReadonlySet<string>; missing: string[] }[] = [
  { name: "root with all capabilities", uid: 0, capabilities: ALL, missing: [] },
  {
    name: "unprivileged user",
    uid: 1000,
    capabilities: new Set(),
    missing: ["root (uid is 1000)", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_KILL"],
  },
  {
    name: "root without CAP_SYS_ADMIN",
    uid: 0,
    capabilities: without("CAP_SYS_ADMIN"),
    missing: ["CAP_SYS_ADMIN"],
  },
  {
    name: "root without CAP_NET_ADMIN",
    uid: 0,
    capabilities: without("CAP_NET_ADMIN"),
    missing: ["CAP_NET_ADMIN"],
  },
  { name: "capabilities but not uid 0", uid: 1000, capabilities: ALL, missing: ["root (uid is 1000)"] },
];

for (const row of CAP_TABLE) {
  void test(`capabilityProblem: ${row.name}`, () => {
    const err = capabilityProblem({ uid: row.uid, capabilities: row.capabilities });
    if (row.missing.length === 0) {
      assert.equal(err, undefined);
      return;
    }
    assert.ok(err instanceof WeftError);
    assert.equal(err.code, "WEFT_E_CAPABILITY");
    assert.match(err.message, /run as root/);
    for (const m of row.missing) assert.ok(err.message.includes(m), `"${err.message}" should name ${m}`);
    for (const held of row.capabilities) {
      assert.ok(
        !err.message.includes(`${held} (`),
        `"${err.message}" should not name ${held}, which is held`,
      );
    }
  });
}

void test("rootOnlyOptions: runs as root, skips with the reason elsewhere, fails under CI", () => {
  assert.deepEqual(rootOnlyOptions(undefined, false), {});
  assert.deepEqual(rootOnlyOptions(undefined, true), {});
  const problem = capabilityProblem({ uid: 1000, capabilities: new Set() });
  assert.match(rootOnlyOptions(problem, false).skip ?? "", /needs root: WEFT_E_CAPABILITY/);
  assert.throws(() => rootOnlyOptions(problem, true), /WEFT_E_CAPABILITY/);
});

void test("parseStartTime survives spaces and parentheses in the command name", () => {
  const stat = "1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
  assert.equal(parseStartTime(stat), 987654);
});
