// Pure parts of the redirector: enrol request validation, the enrol decision (idempotent / conflict),
// the per-pod plans, the health check that drives re-adopt vs garbage collection, cgroup discovery,
// and the startup checks (capabilities, bpffs) that must fail with one clear error.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isWeftError } from "@weft/core";
import {
  DEFAULT_PORTS,
  Redirector,
  cidrList,
  readAgentConfig,
  attachmentPlan,
  canonicalIp,
  decideEnrol,
  findPodCgroup,
  isPodCgroupName,
  listenerPlan,
  normalizePodSpec,
  parseProcCgroup,
  podHealth,
  podLevel,
  resolveCgroup,
  validatePodSpec,
  type PodRecord,
  type PodSpec,
} from "@weft/ztunnel";

const SPEC: PodSpec = {
  uid: "7f9c1e2a-1111-4222-8333-444455556666",
  name: "cart-0",
  namespace: "shop",
  netnsPath: "/run/netns/cart",
  cgroupPath: "/sys/fs/cgroup/kubepods/pod7f9c1e2a-1111-4222-8333-444455556666",
  ips: ["10.0.0.5", "fd00::5"],
};

function record(spec: PodSpec, netnsIno: number): PodRecord {
  return { version: 1, ...spec, netnsCookie: "4096", netnsIno, enrolledAt: "2026-01-01T00:00:00Z" };
}

void describe("validatePodSpec", () => {
  const cases: [string, unknown, RegExp | undefined][] = [
    ["a complete spec", SPEC, undefined],
    ["with a containerId", { ...SPEC, containerId: "abc" }, undefined],
    ["not an object", "pod", /not an object/],
    ["null", null, /not an object/],
    ["empty uid", { ...SPEC, uid: "" }, /uid "" must be/],
    ["uid with a slash", { ...SPEC, uid: "a/b" }, /uid "a\/b" must be/],
    ["uid '..'", { ...SPEC, uid: ".." }, /uid "\.\." must be/],
    ["uid too long", { ...SPEC, uid: "a".repeat(129) }, /must be 1-128/],
    ["missing name", { ...SPEC, name: undefined }, /name must be a string/],
    [
      "relative netns path",
      { ...SPEC, netnsPath: "run/netns/x" },
      /netnsPath "run\/netns\/x" must be an absolute path/,
    ],
    ["relative cgroup path", { ...SPEC, cgroupPath: "kubepods" }, /cgroupPath/],
    ["no ips", { ...SPEC, ips: [] }, /non-empty list/],
    ["ips not a list", { ...SPEC, ips: "10.0.0.5" }, /non-empty list/],
    ["a bad ip", { ...SPEC, ips: ["10.0.0.500"] }, /"10.0.0.500" is not an IP address/],
    ["containerId a number", { ...SPEC, containerId: 5 }, /containerId must be a string/],
  ];
  for (const [name, input, expected] of cases) {
    void it(name, () => {
      const err = validatePodSpec(input);
      if (expected === undefined) return assert.equal(err, undefined);
      assert.ok(isWeftError(err, "WEFT_E_INVALID_INPUT"));
      assert.match(err.message, expected);
    });
  }
});

void describe("normalizePodSpec / canonicalIp", () => {
  void it("canonicalises and de-duplicates IPs", () => {
    assert.equal(canonicalIp("FD00:0:0::5"), "fd00::5");
    assert.equal(canonicalIp("::ffff:10.0.0.5"), "10.0.0.5");
    assert.deepEqual(normalizePodSpec({ ...SPEC, ips: ["10.0.0.5", "::ffff:10.0.0.5", "FD00::5"] }).ips, [
      "10.0.0.5",
      "fd00::5",
    ]);
  });
});

void describe("decideEnrol", () => {
  const enrolled = new Map([[SPEC.uid, record(SPEC, 100)]]);
  void it("enrols a new pod", () => {
    assert.deepEqual(decideEnrol({ ...SPEC, uid: "other", ips: ["10.0.0.6"] }, 200, enrolled), {
      action: "enroll",
    });
  });
  void it("same uid, same netns (by inode, whatever the path) is idempotent", () => {
    assert.deepEqual(decideEnrol({ ...SPEC, netnsPath: "/proc/42/ns/net" }, 100, enrolled), {
      action: "existing",
    });
  });
  void it("same uid, another netns conflicts", () => {
    const d = decideEnrol(SPEC, 101, enrolled);
    assert.equal(d.action, "conflict");
    assert.ok(d.action === "conflict" && isWeftError(d.error, "WEFT_E_CONFLICT"));
    assert.match(d.error.message, /already enrolled with network namespace \/run\/netns\/cart \(inode 100\)/);
  });
  void it("an IP held by another pod conflicts", () => {
    const d = decideEnrol({ ...SPEC, uid: "other", ips: ["fd00::5"] }, 200, enrolled);
    assert.ok(d.action === "conflict");
    assert.match(d.error.message, /IP fd00::5 of pod other is held by enrolled pod/);
  });
});

void describe("plans", () => {
  void it("attachments: cgroup hooks (DNS and bind optional), sk_lookup on the netns, last", () => {
    const base = attachmentPlan({ dns: false, denyBind: false });
    assert.deepEqual(
      base.map((a) => `${a.target}:${a.program}`),
      [
        "cgroup:weft_sockops",
        "cgroup:weft_getpeername4",
        "cgroup:weft_getpeername6",
        "cgroup:weft_connect4",
        "cgroup:weft_connect6",
        "netns:weft_sk_lookup",
      ],
    );
    const all = attachmentPlan({ dns: true, denyBind: true });
    assert.equal(all.length, base.length + 8 + 2);
    assert.equal(all.at(-1)?.program, "weft_sk_lookup");
    assert.equal(new Set(all.map((a) => a.pin)).size, all.length, "pin names are unique");
  });

  void it("listeners: 15001 on both loopbacks, 15006/15008 dual-stack, 15053 UDP+TCP when DNS is on", () => {
    const text = (opts: { dns: boolean; ipv6: boolean }): string[] =>
      listenerPlan(DEFAULT_PORTS, opts).map((l) => `${l.role} ${l.type}${l.family} ${l.address}:${l.port}`);
    assert.deepEqual(text({ dns: true, ipv6: true }), [
      "outbound tcp4 127.0.0.1:15001",
      "outbound tcp6 ::1:15001",
      "inbound tcp6 :::15006",
      "hbone tcp6 :::15008",
      "dns udp4 127.0.0.1:15053",
      "dns udp6 ::1:15053",
      "dns tcp4 127.0.0.1:15053",
      "dns tcp6 ::1:15053",
    ]);
    assert.deepEqual(text({ dns: false, ipv6: false }), [
      "outbound tcp4 127.0.0.1:15001",
      "inbound tcp4 0.0.0.0:15006",
      "hbone tcp4 0.0.0.0:15008",
    ]);
  });
});

void describe("podHealth (re-adopt or garbage-collect)", () => {
  const cases: [string, Parameters<typeof podHealth>[0], "live" | "gone"][] = [
    ["netns and link alive", { recordIno: 7, pathIno: 7, linkIno: 7, cgroupExists: true }, "live"],
    [
      "no sk_lookup pin yet (crash mid-enrol)",
      { recordIno: 7, pathIno: 7, linkIno: undefined, cgroupExists: true },
      "live",
    ],
    ["netns path gone", { recordIno: 7, pathIno: undefined, linkIno: 7, cgroupExists: true }, "gone"],
    ["path now names another netns", { recordIno: 7, pathIno: 8, linkIno: 7, cgroupExists: true }, "gone"],
    [
      "link's netns destroyed (inode 0)",
      { recordIno: 7, pathIno: 7, linkIno: 0, cgroupExists: true },
      "gone",
    ],
    ["cgroup removed", { recordIno: 7, pathIno: 7, linkIno: 7, cgroupExists: false }, "gone"],
  ];
  for (const [name, facts, expected] of cases) {
    void it(name, () => assert.equal(podHealth(facts), expected));
  }
});

void describe("cgroup discovery", () => {
  const uid = "7f9c1e2a-1111-4222-8333-444455556666";
  void it("knows kubelet's names for both cgroup drivers", () => {
    assert.ok(isPodCgroupName(`pod${uid}`, uid));
    assert.ok(isPodCgroupName(`kubepods-burstable-pod${uid.replaceAll("-", "_")}.slice`, uid));
    assert.ok(!isPodCgroupName(`pod${uid}x`, uid));
    assert.ok(!isPodCgroupName("kubepods.slice", uid));
  });
  void it("parses /proc/<pid>/cgroup and walks up from a container to its pod", () => {
    assert.equal(
      parseProcCgroup("12:cpu:/x\n0::/kubepods/besteffort/podU/abc\n"),
      "/kubepods/besteffort/podU/abc",
    );
    assert.equal(parseProcCgroup("12:cpu:/x\n"), undefined);
    assert.equal(
      podLevel(`/sys/fs/cgroup/kubepods/pod${uid}/ctr1`, uid),
      `/sys/fs/cgroup/kubepods/pod${uid}`,
    );
    assert.equal(podLevel("/sys/fs/cgroup/testbed/pod-a1", uid), "/sys/fs/cgroup/testbed/pod-a1");
  });
  void it("finds the pod cgroup in a kubelet-like tree (cgroupfs and systemd drivers)", () => {
    const root = mkdtempSync(join(tmpdir(), "weft-cgroup-"));
    try {
      const cgroupfs = join(root, "kubepods", "burstable", `pod${uid}`);
      mkdirSync(join(cgroupfs, "ctr"), { recursive: true });
      assert.equal(findPodCgroup(root, uid), cgroupfs);
      const other = "0b0b0b0b-0000-4000-8000-000000000000";
      const systemd = join(
        root,
        "kubepods.slice",
        "kubepods-besteffort.slice",
        `kubepods-besteffort-pod${other.replaceAll("-", "_")}.slice`,
      );
      mkdirSync(systemd, { recursive: true });
      assert.equal(findPodCgroup(root, other), systemd);
      assert.equal(findPodCgroup(root, "no-such-pod"), undefined);
      // An explicit path wins; without one and with nothing to find, a clear error.
      assert.equal(resolveCgroup({ ...SPEC, cgroupPath: "/explicit" }, root), "/explicit");
      assert.equal(resolveCgroup({ ...SPEC, uid, cgroupPath: "" }, root), cgroupfs);
      assert.throws(
        () => resolveCgroup({ ...SPEC, uid: "nobody", cgroupPath: "", netnsPath: join(root, "none") }, root),
        (e: unknown) => isWeftError(e, "WEFT_E_NOT_FOUND") && /WEFT_CGROUP/.test(e.message),
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

void describe("Redirector.start checks", () => {
  void it("names every missing capability in one error", async () => {
    await assert.rejects(Redirector.start({ capabilities: new Set(["CAP_NET_ADMIN"]) }), (e: unknown) => {
      assert.ok(isWeftError(e, "WEFT_E_CAPABILITY"));
      assert.match(e.message, /missing CAP_BPF, CAP_SYS_ADMIN and CAP_SYS_PTRACE/);
      return true;
    });
  });
  void it("CAP_SYS_ADMIN stands in for CAP_BPF (kernels before 5.8)", async () => {
    await assert.rejects(
      Redirector.start({ capabilities: new Set(["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]) }),
      /missing CAP_SYS_PTRACE —/,
    );
  });
  void it("bad exclude CIDRs or probe sources are named before anything else is checked", async () => {
    await assert.rejects(
      Redirector.start({
        capabilities: new Set(),
        excludeCidrs: ["10.0.0.0/8", "10.0.0.0/33", "nope"],
        probeSources: ["169.254.7.127"],
      }),
      (err: unknown) =>
        isWeftError(err, "WEFT_E_INVALID_INPUT") &&
        /excludeCidrs \(WEFT_EXCLUDE_CIDRS\): "10\.0\.0\.0\/33", "nope" are not CIDRs/.test(err.message),
    );
    await assert.rejects(
      Redirector.start({ capabilities: new Set(), probeSources: ["fd00::/129"] }),
      /probeSources \(WEFT_PROBE_SOURCES\): "fd00::\/129" is not a CIDR/,
    );
  });

  void it("CIDR lists: bare IPs are host prefixes, addresses canonical", () => {
    assert.deepEqual(cidrList([" 10.1.0.0/16", "169.254.7.127", "FD00::1", "::ffff:10.0.0.1/32"], "x"), [
      "10.1.0.0/16",
      "169.254.7.127/32",
      "fd00::1/128",
      "10.0.0.1/32",
    ]);
    assert.deepEqual(cidrList(undefined, "x"), []);
  });

  void it("the agent reads WEFT_EXCLUDE_CIDRS and WEFT_PROBE_SOURCES as lists, empty by default", () => {
    assert.deepEqual(readAgentConfig({}).excludeCidrs, []);
    const c = readAgentConfig({
      WEFT_EXCLUDE_CIDRS: "169.254.169.254/32, fd00:ec2::254",
      WEFT_PROBE_SOURCES: "169.254.7.127",
    });
    assert.deepEqual(c.excludeCidrs, ["169.254.169.254/32", "fd00:ec2::254"]);
    assert.deepEqual(c.probeSources, ["169.254.7.127"]);
  });

  void it("a pin root outside bpffs says how to mount it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weft-not-bpffs-"));
    try {
      await assert.rejects(
        Redirector.start({
          pinRoot: join(dir, "weft"),
          capabilities: new Set(["CAP_BPF", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]),
        }),
        (e: unknown) =>
          isWeftError(e, "WEFT_E_CAPABILITY") && /mount -t bpf bpf \/sys\/fs\/bpf/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
