// Pure tests of the address forms, map codecs, reason table and error mapping (no privileges).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isWeftError } from "@weft/core";
import {
  REASONS,
  REASON_SLOTS,
  connKey,
  encodeAddr,
  listenerKey,
  lpmKey,
  nativeCode,
  origDst,
  podInfo,
  readAddr,
  skLookupCtx,
  toWeftError,
} from "@weft/native";
import { REPO } from "./support.js";

function nativeError(code: string, syscall = "bpf(BPF_LINK_CREATE)"): Error {
  return Object.assign(new Error(`${code} happened`), {
    name: "WeftNativeError",
    code,
    errno: 1,
    syscall,
    path: "/x",
  });
}

void describe("addresses", () => {
  const table: [string, string, string][] = [
    ["10.1.2.3", "00000000000000000000ffff0a010203", "::ffff:10.1.2.3"],
    ["::ffff:10.1.2.3", "00000000000000000000ffff0a010203", "::ffff:10.1.2.3"],
    ["::1", "00000000000000000000000000000001", "::1"],
    ["::", "00000000000000000000000000000000", "::"],
    ["fd00::5", "fd000000000000000000000000000005", "fd00::5"],
    ["2001:db8:0:0:1:0:0:1", "20010db8000000000001000000000001", "2001:db8::1:0:0:1"],
    ["fe80::1%eth0", "fe800000000000000000000000000001", "fe80::1"],
  ];
  for (const [text, hex, back] of table) {
    void it(`${text} encodes to ${hex} and reads back as ${back}`, () => {
      assert.equal(encodeAddr(text).toString("hex"), hex);
      assert.equal(readAddr(encodeAddr(text)), back);
    });
  }

  void it("reads v4-mapped as dotted IPv4 when asked for family 4", () => {
    assert.equal(readAddr(encodeAddr("192.168.0.1"), 0, 4), "192.168.0.1");
  });

  void it("round-trips any IPv6 and IPv4 address", () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        assert.deepEqual(encodeAddr(readAddr(encodeAddr(ip))), encodeAddr(ip));
      }),
    );
    fc.assert(fc.property(fc.ipV4(), (ip) => assert.equal(readAddr(encodeAddr(ip), 0, 4), ip)));
  });

  void it("rejects what is not an address", () => {
    assert.throws(
      () => encodeAddr("10.1.2"),
      (e) => isWeftError(e, "WEFT_E_INVALID_INPUT"),
    );
    assert.throws(
      () => encodeAddr("example.com"),
      (e) => isWeftError(e, "WEFT_E_INVALID_INPUT"),
    );
  });
});

void describe("map codecs", () => {
  void it("weft_orig_dst keeps the port in network order and the family of the app's socket", () => {
    const b = origDst.encode({ address: "10.1.2.3", port: 80, family: 4, protocol: "tcp" });
    assert.equal(b.toString("hex"), "00000000000000000000ffff0a010203" + "0050" + "02" + "06");
    assert.deepEqual(origDst.decode(b), { address: "10.1.2.3", port: 80, family: 4, protocol: "tcp" });
    const mapped = { address: "::ffff:10.1.2.3", port: 80, family: 6, protocol: "tcp" } as const;
    assert.deepEqual(origDst.decode(origDst.encode(mapped)), mapped);
  });

  void it("weft_conn_key encodes IPv4 and its v4-mapped form identically", () => {
    const a = connKey.encode({
      netnsCookie: 7n,
      src: { address: "10.0.0.1", port: 40000 },
      dst: { address: "127.0.0.1", port: 15001 },
    });
    const b = connKey.encode({
      netnsCookie: 7n,
      src: { address: "::ffff:10.0.0.1", port: 40000 },
      dst: { address: "::ffff:127.0.0.1", port: 15001 },
    });
    assert.deepEqual(a, b);
    assert.equal(a.length, 48);
    assert.equal(a.readUInt16BE(42), 15001);
    assert.deepEqual(connKey.decode(a).dst, { address: "::ffff:127.0.0.1", port: 15001 });
  });

  void it("weft_lpm_key stores IPv4 prefixes as v4-mapped /96+n", () => {
    const b = lpmKey.encode("10.0.0.0/8");
    assert.equal(b.readUInt32LE(0), 104);
    assert.equal(lpmKey.decode(b), "10.0.0.0/8");
    assert.equal(lpmKey.decode(lpmKey.encode("fd00::/8")), "fd00::/8");
    assert.equal(lpmKey.decode(lpmKey.encode("10.1.2.3")), "10.1.2.3/32");
    assert.throws(
      () => lpmKey.encode("10.0.0.0/33"),
      (e) => isWeftError(e, "WEFT_E_INVALID_INPUT"),
    );
  });

  void it("weft_listener_key and weft_pod_info round-trip", () => {
    const k = { address: "fd00::2", kind: "hbone" } as const;
    assert.deepEqual(listenerKey.decode(listenerKey.encode(k)), k);
    assert.equal(listenerKey.encode(k).readUInt32LE(16), 2);
    const p = { netnsCookie: 0xfedcba9876543210n, flags: 0 };
    assert.deepEqual(podInfo.decode(podInfo.encode(p)), p);
  });

  void it("bpf_sk_lookup puts remote_port in network order and local_port in host order", () => {
    const b = skLookupCtx.encode({
      family: 4,
      protocol: "tcp",
      remote: { address: "10.0.0.1", port: 1234 },
      local: { address: "10.0.0.2", port: 8080 },
    });
    assert.equal(b.readUInt32LE(8), 2);
    assert.equal(b.readUInt16BE(36), 1234);
    assert.equal(b.readUInt32LE(60), 8080);
    assert.equal(b.subarray(40, 44).toString("hex"), "0a000002");
    const back = skLookupCtx.decode(b);
    assert.deepEqual(back.local, { address: "10.0.0.2", port: 8080 });
    assert.deepEqual(back.remote, { address: "10.0.0.1", port: 1234 });
  });
});

void describe("reason codes", () => {
  void it("mirror bpf/include/reasons.h exactly", () => {
    const header = readFileSync(join(REPO, "bpf", "include", "reasons.h"), "utf8");
    const defined = new Map<string, number>();
    for (const m of header.matchAll(/^#define WEFT_R_(\w+) (\d+)/gm)) defined.set(m[1] ?? "", Number(m[2]));
    assert.equal(defined.get("MAX"), REASON_SLOTS);
    defined.delete("MAX");
    assert.deepEqual(Object.fromEntries(defined), REASONS);
    assert.equal(new Set(Object.values(REASONS)).size, Object.keys(REASONS).length, "numbers are unique");
  });
});

void describe("native error mapping", () => {
  void it("EPERM on attach names the capabilities to grant", () => {
    const e = toWeftError(nativeError("EPERM"), "cannot attach sk_lookup to /proc/123/ns/net", "bpf");
    assert.ok(isWeftError(e, "WEFT_E_CAPABILITY"));
    assert.match(
      e.message,
      /^WEFT_E_CAPABILITY: cannot attach sk_lookup to \/proc\/123\/ns\/net: EPERM .* — run as root or with CAP_BPF and CAP_NET_ADMIN/,
    );
    assert.equal(nativeCode(e), "EPERM");
  });

  void it("classifies by domain and errno", () => {
    const cases: [string, string, "bpf" | "netns", string][] = [
      ["ENOENT", "open", "bpf", "WEFT_E_BPF"],
      ["ENOENT", "open", "netns", "WEFT_E_NETNS"],
      ["ENOTBPFFS", "statfs", "bpf", "WEFT_E_CAPABILITY"],
      ["ENOTNETNS", "setns", "netns", "WEFT_E_NETNS"],
      ["EADDRINUSE", "bind", "netns", "WEFT_E_PORT_IN_USE"],
      ["EINVAL", "argument", "bpf", "WEFT_E_INVALID_INPUT"],
      ["EINVAL", "bpf(BPF_LINK_CREATE)", "bpf", "WEFT_E_BPF"],
    ];
    for (const [code, syscall, domain, want] of cases) {
      const e = toWeftError(nativeError(code, syscall), "doing it", domain);
      assert.ok(isWeftError(e), `${code}/${syscall}`);
      assert.equal(e.code, want, `${code}/${syscall}/${domain}`);
      assert.equal(nativeCode(e), code);
    }
  });

  void it("passes errors that are not native through", () => {
    const plain = new RangeError("x");
    assert.equal(toWeftError(plain, "doing it", "bpf"), plain);
  });
});
