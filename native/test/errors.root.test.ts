// Every failure comes back as a WeftNativeError (raw addon) or WeftError (wrapper) with the right
// code, and the process stays up to report it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isWeftError, type WeftErrorCode } from "@weft/core";
import {
  BpfLink,
  BpfMap,
  BpfObject,
  WEFT_MAPS,
  bytes,
  closeFd,
  isWeftNativeError,
  nativeCode,
  netnsCookie,
  socketInNetns,
  u32,
} from "@weft/native";
import { Cleanup, REPO, bpfObject, capable, makePinRoot, rootMissing } from "./support.js";

// The raw addon, to check the WeftNativeError shape itself (the wrapper validates types first).
type Raw = Record<string, (...args: unknown[]) => unknown>;
let rawAddon: Raw | undefined;
const raw = new Proxy<Raw>(
  {},
  {
    get: (_, name: string) => {
      rawAddon ??= createRequire(import.meta.url)(join(REPO, "native", "build", "weft_native.node")) as Raw;
      return rawAddon[name];
    },
  },
);

function nativeErr(code: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isWeftNativeError(e), `a WeftNativeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(typeof e.errno, "number");
    assert.equal(typeof e.syscall, "string");
    return true;
  };
}

function weftErr(code: WeftErrorCode, native?: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isWeftError(e), `a WeftError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (native !== undefined) assert.equal(nativeCode(e), native, e.message);
    return true;
  };
}

void describe("native errors", () => {
  const cleanup = new Cleanup();
  let pinRoot = "";
  let tmp = "";
  let runnable = false;

  before(() => {
    runnable = rootMissing() === undefined;
    if (!runnable) return;
    pinRoot = makePinRoot(cleanup);
    tmp = mkdtempSync(join(tmpdir(), "weft-native-"));
    cleanup.add(() => rmSync(tmp, { recursive: true, force: true }));
  });
  after(() => cleanup.run());

  void it("wrong argument types are EINVAL, never a crash", (t) => {
    if (!capable(t, rootMissing())) return;
    assert.throws(() => raw.objectOpen?.(42, null), nativeErr("EINVAL"));
    assert.throws(() => raw.objectOpen?.("", null), nativeErr("EINVAL"));
    assert.throws(() => raw.objectLoad?.({}), nativeErr("EINVAL"));
    assert.throws(() => raw.mapLookup?.("not a handle", Buffer.alloc(4)), nativeErr("EINVAL"));
    assert.throws(() => raw.attachCgroup?.(undefined, "p", "/x"), nativeErr("EINVAL"));
    assert.throws(() => raw.closeFd?.(-1), nativeErr("EINVAL"));
    assert.throws(() => raw.closeFd?.(1.5), nativeErr("EINVAL"));
    assert.throws(
      () => raw.socketInNetns?.("/proc/self/ns/net", { family: 5, type: "tcp" }, () => {}),
      nativeErr("EINVAL"),
    );
    assert.throws(
      () => raw.socketInNetns?.("/proc/self/ns/net", { family: 4, type: "tcp" }, "nope"),
      nativeErr("EINVAL"),
    );
    assert.throws(
      () => raw.socketInNetns?.("/proc/self/ns/net", { family: 4, type: "tcp", address: "::1" }, () => {}),
      nativeErr("EINVAL"),
    );
  });

  void it("a bad object path is ENOENT (WEFT_E_BPF)", (t) => {
    if (!capable(t, rootMissing())) return;
    assert.throws(() => raw.objectOpen?.("/nonexistent/x.bpf.o", null), nativeErr("ENOENT"));
    assert.throws(() => BpfObject.load("/nonexistent/x.bpf.o"), weftErr("WEFT_E_BPF", "ENOENT"));
    const junk = join(tmp, "junk.bpf.o");
    writeFileSync(junk, "not an ELF file");
    assert.throws(() => BpfObject.load(junk), weftErr("WEFT_E_BPF"));
  });

  void it("a missing map or program name is ENOENT", (t) => {
    if (!capable(t, rootMissing())) return;
    const obj = BpfObject.load(bpfObject("connect"), { pinRoot });
    try {
      assert.throws(() => obj.map("no_such_map", { key: u32, value: u32 }), weftErr("WEFT_E_BPF", "ENOENT"));
      assert.throws(() => obj.program("no_such_prog"), weftErr("WEFT_E_BPF"));
      assert.throws(() => raw.objectProgFd?.(obj.handle, "no_such_prog"), nativeErr("ENOENT"));
      assert.throws(
        () => BpfObject.load(bpfObject("connect"), { pinRoot, rodata: { no_such_var: 1 } }),
        weftErr("WEFT_E_BPF"),
      );
      assert.throws(
        () => BpfObject.load(bpfObject("connect"), { pinRoot, rodata: { outbound_port: 70000 } }),
        weftErr("WEFT_E_INVALID_INPUT"),
      );
    } finally {
      obj.close();
    }
  });

  void it("wrong key/value sizes are refused with the sizes named", (t) => {
    if (!capable(t, rootMissing())) return;
    const obj = BpfObject.load(bpfObject("connect"), { pinRoot });
    const stats = obj.map(WEFT_MAPS.podIps.name, { key: bytes(16), value: bytes(16) });
    try {
      assert.throws(() => stats.lookup(Buffer.alloc(3)), weftErr("WEFT_E_INVALID_INPUT", "EINVAL"));
      assert.throws(
        () => stats.update(Buffer.alloc(16), Buffer.alloc(3)),
        weftErr("WEFT_E_INVALID_INPUT", "EINVAL"),
      );
      assert.throws(
        () => raw.mapUpdate?.(stats.handle, Buffer.alloc(16), Buffer.alloc(16), 9),
        nativeErr("EINVAL"),
      );
      // A codec that disagrees with the kernel's map is caught when the map is opened.
      assert.throws(
        () => obj.map("weft_orig_conn", { key: bytes(40), value: bytes(20) }),
        weftErr("WEFT_E_BPF"),
      );
      assert.throws(() => stats.setSocket(Buffer.alloc(16), 0), weftErr("WEFT_E_INVALID_INPUT"));
    } finally {
      stats.close();
      obj.close();
    }
  });

  void it("closed objects, maps, links and fds are EBADF", async (t) => {
    if (!capable(t, rootMissing())) return;
    const obj = BpfObject.load(bpfObject("connect"), { pinRoot });
    const handle = obj.handle;
    const map = obj.map(WEFT_MAPS.podIps.name, WEFT_MAPS.podIps);
    const mapHandle = map.handle;
    map.close();
    map.close(); // idempotent
    assert.throws(() => raw.mapLookup?.(mapHandle, Buffer.alloc(16)), nativeErr("EBADF"));
    assert.throws(() => map.lookup("10.0.0.1"), weftErr("WEFT_E_BPF"));
    obj.close();
    assert.throws(() => raw.objectPrograms?.(handle), nativeErr("EBADF"));
    assert.throws(() => obj.program("weft_connect4"), weftErr("WEFT_E_BPF"));

    const fd = await socketInNetns("/proc/self/ns/net", { family: 4, type: "udp" });
    closeFd(fd);
    assert.throws(() => closeFd(fd), weftErr("WEFT_E_BPF", "EBADF"));
    assert.throws(() => raw.linkPin?.(fd, join(pinRoot, "x")), nativeErr("EBADF"));
    assert.throws(() => raw.linkInfo?.(fd), nativeErr("EBADF"));
    const link = new BpfLink(fd, "a closed fd");
    assert.throws(() => link.info(), weftErr("WEFT_E_BPF", "EBADF"));
    assert.throws(() => link.close(), weftErr("WEFT_E_BPF", "EBADF"));
    assert.throws(() => link.fd, weftErr("WEFT_E_BPF"));
  });

  void it("attaching a program to the wrong kind of target is EINVAL", (t) => {
    if (!capable(t, rootMissing())) return;
    const lookup = BpfObject.load(bpfObject("sk_lookup"), { pinRoot });
    const connect = BpfObject.load(bpfObject("connect"), { pinRoot });
    try {
      assert.throws(
        () => lookup.program("weft_sk_lookup").attachCgroup("/sys/fs/cgroup/unified"),
        weftErr("WEFT_E_BPF", "EINVAL"),
      );
      assert.throws(
        () => connect.program("weft_connect4").attachNetns("/proc/self/ns/net"),
        weftErr("WEFT_E_BPF", "EINVAL"),
      );
      // A directory that is not a cgroup v2 one, and a file that is not a netns.
      assert.throws(
        () => connect.program("weft_connect4").attachCgroup(tmp),
        weftErr("WEFT_E_BPF", "EINVAL"),
      );
      assert.throws(
        () => lookup.program("weft_sk_lookup").attachNetns("/proc/self/ns/uts"),
        weftErr("WEFT_E_BPF", "EINVAL"),
      );
      // connect4 has no kernel test_run.
      assert.throws(() => connect.program("weft_connect4").testRun({}), weftErr("WEFT_E_BPF"));
    } finally {
      lookup.close();
      connect.close();
    }
  });

  void it("a netns that does not exist is ENOENT (WEFT_E_NETNS / WEFT_E_BPF)", async (t) => {
    if (!capable(t, rootMissing())) return;
    const lookup = BpfObject.load(bpfObject("sk_lookup"), { pinRoot });
    try {
      assert.throws(
        () => lookup.program("weft_sk_lookup").attachNetns("/run/netns/weft-no-such-ns"),
        weftErr("WEFT_E_BPF", "ENOENT"),
      );
    } finally {
      lookup.close();
    }
    await assert.rejects(
      socketInNetns("/run/netns/weft-no-such-ns", { family: 4, type: "tcp" }),
      weftErr("WEFT_E_NETNS", "ENOENT"),
    );
    await assert.rejects(netnsCookie("/run/netns/weft-no-such-ns"), weftErr("WEFT_E_NETNS", "ENOENT"));
    await assert.rejects(netnsCookie("/etc/hostname"), weftErr("WEFT_E_NETNS", "ENOTNETNS"));
    await assert.rejects(
      socketInNetns("/proc/self/ns/net", {
        family: 4,
        type: "tcp",
        address: "192.0.2.77",
        port: 1,
        backlog: 1,
      }),
      weftErr("WEFT_E_NETNS", "EADDRNOTAVAIL"),
    );
  });

  void it("a pin root outside bpffs names the missing mount (ENOTBPFFS)", (t) => {
    if (!capable(t, rootMissing())) return;
    assert.throws(() => raw.objectOpen?.(bpfObject("connect"), tmp), nativeErr("ENOTBPFFS"));
    assert.throws(
      () => BpfObject.load(bpfObject("connect"), { pinRoot: join(tmp, "weft") }),
      (e) => weftErr("WEFT_E_CAPABILITY")(e) && /mount -t bpf bpf \/sys\/fs\/bpf/.test((e as Error).message),
    );
    const obj = BpfObject.load(bpfObject("sk_lookup"), { pinRoot });
    const link = obj.program("weft_sk_lookup").attachNetns("/proc/self/ns/net");
    try {
      assert.throws(() => link.pin(join(tmp, "link")), weftErr("WEFT_E_CAPABILITY", "ENOTBPFFS"));
    } finally {
      link.close();
      obj.close();
    }
    assert.throws(() => BpfLink.unpin(join(pinRoot, "no-such-pin")), weftErr("WEFT_E_BPF", "ENOENT"));
    assert.throws(
      () => BpfMap.openPinned(join(pinRoot, "no-such-map"), WEFT_MAPS.stats),
      weftErr("WEFT_E_BPF", "ENOENT"),
    );
  });
});
