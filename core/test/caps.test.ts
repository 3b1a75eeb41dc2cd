import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  CAPABILITIES,
  findCgroup2Mount,
  isBpffsMounted,
  isWeftError,
  missingCapabilities,
  parseMounts,
  readCapabilities,
  requireCapabilities,
  type CapabilityName,
} from "@weft/core";

function status(capEff: string): string {
  return [
    "Name:\tnode",
    "Umask:\t0022",
    "State:\tS (sleeping)",
    "Uid:\t0\t0\t0\t0",
    "CapInh:\t0000000000000000",
    `CapPrm:\t${capEff}`,
    `CapEff:\t${capEff}`,
    "CapBnd:\t000001ffffffffff",
    "CapAmb:\t0000000000000000",
    "NoNewPrivs:\t0",
    "",
  ].join("\n");
}

void test("CapEff is decoded into capability names", () => {
  const table: { capEff: string; has: string[]; lacks: string[]; size?: number }[] = [
    // An unprivileged user.
    { capEff: "0000000000000000", has: [], lacks: ["CAP_NET_ADMIN", "CAP_BPF"], size: 0 },
    // Root on a 5.8+ kernel (41 capabilities, bits 0..40).
    {
      capEff: "000001ffffffffff",
      has: [
        "CAP_CHOWN",
        "CAP_NET_ADMIN",
        "CAP_SYS_ADMIN",
        "CAP_BPF",
        "CAP_PERFMON",
        "CAP_CHECKPOINT_RESTORE",
      ],
      lacks: [],
      size: 41,
    },
    // Root on a pre-5.8 kernel: bits 0..37 only.
    {
      capEff: "0000003fffffffff",
      has: ["CAP_SYS_ADMIN", "CAP_AUDIT_READ"],
      lacks: ["CAP_PERFMON", "CAP_BPF"],
      size: 38,
    },
    // This project's CI box: everything except CAP_SYS_RESOURCE (bit 24).
    { capEff: "000001fffeffffff", has: ["CAP_BPF", "CAP_SYS_ADMIN"], lacks: ["CAP_SYS_RESOURCE"], size: 40 },
    // Docker's default set (chown dac_override fowner fsetid kill setgid setuid setpcap net_bind_service net_raw sys_chroot mknod audit_write setfcap).
    {
      capEff: "00000000a80425fb",
      has: ["CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_MKNOD"],
      lacks: ["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_BPF"],
      size: 14,
    },
    // A ztunnel-like grant: NET_ADMIN(12), SYS_ADMIN(21), SYS_PTRACE(19), NET_RAW(13), BPF(39), PERFMON(38).
    {
      capEff: "000000c000283000",
      has: ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_PTRACE", "CAP_SYS_ADMIN", "CAP_PERFMON", "CAP_BPF"],
      lacks: ["CAP_CHOWN"],
      size: 6,
    },
    // A future kernel's bit 41 is kept under a placeholder name, not dropped.
    { capEff: "0000020000000000", has: ["CAP_41"], lacks: [], size: 1 },
  ];
  for (const { capEff, has, lacks, size } of table) {
    const caps = readCapabilities(status(capEff));
    for (const name of has) assert.ok(caps.has(name), `${capEff} has ${name}`);
    for (const name of lacks) assert.ok(!caps.has(name), `${capEff} lacks ${name}`);
    if (size !== undefined) assert.equal(caps.size, size, capEff);
  }
});

void test("the capability numbers match linux/capability.h", () => {
  const known: [CapabilityName, number][] = [
    ["CAP_NET_ADMIN", 12],
    ["CAP_NET_RAW", 13],
    ["CAP_SYS_PTRACE", 19],
    ["CAP_SYS_ADMIN", 21],
    ["CAP_PERFMON", 38],
    ["CAP_BPF", 39],
  ];
  for (const [name, bit] of known) assert.equal(CAPABILITIES[name], bit, name);
  assert.equal(
    new Set(Object.values(CAPABILITIES)).size,
    Object.keys(CAPABILITIES).length,
    "bits are unique",
  );
});

void test("status text without CapEff is an error, not an empty set", () => {
  assert.throws(
    () => readCapabilities("Name:\tx\n"),
    (err: unknown) => isWeftError(err),
  );
});

void test("CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, as the kernel allows", () => {
  const table: { held: string[]; required: CapabilityName[]; missing: CapabilityName[] }[] = [
    { held: [], required: ["CAP_BPF", "CAP_NET_ADMIN"], missing: ["CAP_BPF", "CAP_NET_ADMIN"] },
    { held: ["CAP_BPF", "CAP_NET_ADMIN"], required: ["CAP_BPF", "CAP_NET_ADMIN"], missing: [] },
    {
      held: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"],
      required: ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"],
      missing: [],
    },
    { held: ["CAP_SYS_ADMIN"], required: ["CAP_BPF", "CAP_NET_ADMIN"], missing: ["CAP_NET_ADMIN"] },
    { held: ["CAP_BPF"], required: ["CAP_SYS_ADMIN"], missing: ["CAP_SYS_ADMIN"] },
    {
      held: ["CAP_NET_ADMIN"],
      required: ["CAP_SYS_PTRACE", "CAP_NET_ADMIN", "CAP_NET_RAW"],
      missing: ["CAP_SYS_PTRACE", "CAP_NET_RAW"],
    },
  ];
  for (const { held, required, missing } of table) {
    assert.deepEqual(
      missingCapabilities(required, new Set(held)),
      missing,
      `${held.join(",")} / ${required.join(",")}`,
    );
  }
});

void test("requireCapabilities names exactly the missing capabilities and the fix", () => {
  const held = readCapabilities(status("0000000000001000")); // CAP_NET_ADMIN only
  assert.doesNotThrow(() => requireCapabilities(["CAP_NET_ADMIN"], "create veths", held));
  assert.throws(
    () =>
      requireCapabilities(["CAP_BPF", "CAP_NET_ADMIN", "CAP_SYS_PTRACE"], "attach sk_lookup programs", held),
    (err: unknown) => {
      assert.ok(isWeftError(err, "WEFT_E_CAPABILITY"));
      assert.match(
        err.message,
        /^WEFT_E_CAPABILITY: cannot attach sk_lookup programs: missing CAP_BPF and CAP_SYS_PTRACE — /,
      );
      assert.match(err.fix, /^run as root or grant CAP_BPF and CAP_SYS_PTRACE /);
      assert.doesNotMatch(err.reason, /CAP_NET_ADMIN/);
      assert.deepEqual(err.details, {
        missing: ["CAP_BPF", "CAP_SYS_PTRACE"],
        required: ["CAP_BPF", "CAP_NET_ADMIN", "CAP_SYS_PTRACE"],
      });
      return true;
    },
  );
  assert.throws(
    () => requireCapabilities(["CAP_NET_RAW", "CAP_BPF", "CAP_PERFMON"], "x", new Set()),
    /missing CAP_NET_RAW, CAP_BPF and CAP_PERFMON/,
  );
});

// Debian 11 / systemd hybrid layout, as on this project's machines.
const HYBRID = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/vda1 / ext4 rw,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
bpf /sys/fs/bpf bpf rw,nosuid,nodev,noexec,relatime,mode=700 0 0
`;

// Pure cgroup v2 (Debian 12, Ubuntu 22.04+, Fedora).
const PURE_V2 = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
none /sys/fs/bpf bpf rw,nosuid,nodev,noexec,relatime,mode=700 0 0
`;

// cgroup v1 only, no bpffs (an old host or a container without them).
const V1_ONLY = `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
`;

// A container runtime bind-mounted cgroup2 somewhere else as well, listed first.
const EXTRA_CGROUP2 = `cgroup2 /run/containerd/x/rootfs/sys/fs/cgroup cgroup2 rw,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,relatime 0 0
bpf /sys/fs/bpf/ bpf rw 0 0
`;

void test("findCgroup2Mount finds the cgroup v2 mount in each layout", () => {
  const table: { name: string; mounts: string; want: string }[] = [
    { name: "hybrid", mounts: HYBRID, want: "/sys/fs/cgroup/unified" },
    { name: "pure v2", mounts: PURE_V2, want: "/sys/fs/cgroup" },
    { name: "extra mount first", mounts: EXTRA_CGROUP2, want: "/sys/fs/cgroup" },
    { name: "only elsewhere", mounts: "cgroup2 /mnt/cg2 cgroup2 rw 0 0\n", want: "/mnt/cg2" },
  ];
  for (const { name, mounts, want } of table) assert.equal(findCgroup2Mount(mounts), want, name);
  assert.throws(
    () => findCgroup2Mount(V1_ONLY),
    (err: unknown) => isWeftError(err, "WEFT_E_CAPABILITY") && /mount -t cgroup2/.test(err.fix),
  );
});

void test("isBpffsMounted matches a bpf filesystem at exactly that path", () => {
  const table: { mounts: string; path?: string; want: boolean }[] = [
    { mounts: HYBRID, want: true },
    { mounts: PURE_V2, want: true },
    { mounts: PURE_V2, path: "/sys/fs/bpf/", want: true },
    { mounts: EXTRA_CGROUP2, want: true },
    { mounts: V1_ONLY, want: false },
    { mounts: PURE_V2, path: "/run/weft/bpf", want: false },
    { mounts: "tmpfs /sys/fs/bpf tmpfs rw 0 0\n", want: false },
    { mounts: "bpf /run/weft/bpf bpf rw 0 0\n", path: "/run/weft/bpf", want: true },
  ];
  for (const { mounts, path, want } of table) {
    assert.equal(isBpffsMounted(path, mounts), want, `${path ?? "default"} in ${mounts.split("\n")[0]}`);
  }
});

void test("parseMounts decodes octal escapes and splits options", () => {
  assert.deepEqual(parseMounts("/dev/sdb1 /media/my\\040disk ext4 rw,noatime 0 0\n\n"), [
    { source: "/dev/sdb1", target: "/media/my disk", fstype: "ext4", options: ["rw", "noatime"] },
  ]);
});

void test("without text, the readers use this machine's /proc files", () => {
  const mounts = readFileSync("/proc/mounts", "utf8");
  assert.equal(isBpffsMounted(), isBpffsMounted("/sys/fs/bpf", mounts));
  let fromText: unknown;
  let fromFile: unknown;
  try {
    fromText = findCgroup2Mount(mounts);
  } catch (err) {
    fromText = isWeftError(err, "WEFT_E_CAPABILITY") ? "missing" : err;
  }
  try {
    fromFile = findCgroup2Mount();
  } catch (err) {
    fromFile = isWeftError(err, "WEFT_E_CAPABILITY") ? "missing" : err;
  }
  assert.equal(fromFile, fromText);
  assert.deepEqual(readCapabilities(), readCapabilities(readFileSync("/proc/self/status", "utf8")));
});
