import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { formatIdentity, parseIdentity } from "../src/identity.js";
import { CidrSet, canonicalIp, formatSocketAddress, parseCidr } from "../src/ip.js";

void test("canonicalIp normalizes IPv4, IPv6 and IPv4-mapped IPv6, and rejects the rest", () => {
  const cases: [string, string | undefined][] = [
    ["10.0.0.1", "10.0.0.1"],
    ["255.255.255.255", "255.255.255.255"],
    ["010.0.0.1", undefined], // octal-looking forms are ambiguous; refuse them
    ["10.0.0.256", undefined],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8::0:1", "2001:db8::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["::", "::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::FFFF:0a01:0203", "10.1.2.3"],
    ["fe80::1%eth0", undefined],
    ["not an ip", undefined],
    ["", undefined],
    ["[::1]", undefined],
  ];
  for (const [input, expected] of cases) assert.equal(canonicalIp(input), expected, input);
});

void test("canonicalIp is idempotent and agrees for every spelling of an IPv6 address", () => {
  fc.assert(
    fc.property(fc.ipV6(), (ip) => {
      const c = canonicalIp(ip);
      assert.notEqual(c, undefined);
      assert.equal(canonicalIp(c ?? ""), c);
      assert.equal(canonicalIp(ip.toUpperCase()), c);
    }),
  );
  fc.assert(fc.property(fc.ipV4(), (ip) => assert.equal(canonicalIp(ip), ip)));
});

void test("formatSocketAddress brackets IPv6", () => {
  assert.equal(formatSocketAddress("10.0.0.1", 80), "10.0.0.1:80");
  assert.equal(formatSocketAddress("fd00::1", 15008), "[fd00::1]:15008");
});

void test("parseCidr and CidrSet", () => {
  assert.deepEqual(parseCidr("10.0.0.0/8"), { address: "10.0.0.0", prefix: 8, family: 4 });
  assert.deepEqual(parseCidr("10.0.0.7"), { address: "10.0.0.7", prefix: 32, family: 4 });
  assert.deepEqual(parseCidr("FD00::/16"), { address: "fd00::", prefix: 16, family: 6 });
  for (const bad of ["10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/a", "/8", "x/8", "10.0.0.0/-1"]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
  const set = new CidrSet([parseCidr("10.0.0.0/8"), parseCidr("fd00::/16")].filter((c) => c !== undefined));
  assert.equal(set.contains("10.200.0.1"), true);
  assert.equal(set.contains("11.0.0.1"), false);
  assert.equal(set.contains("fd00:1::5"), true);
  assert.equal(set.contains("fe00::5"), false);
});

void test("SPIFFE identities parse and format", () => {
  assert.deepEqual(parseIdentity("spiffe://cluster.local/ns/default/sa/web"), {
    trustDomain: "cluster.local",
    namespace: "default",
    serviceAccount: "web",
  });
  for (const bad of [
    "cluster.local/ns/default/sa/web",
    "spiffe://cluster.local/ns/default/web",
    "spiffe://cluster.local/ns//sa/web",
    "spiffe://cluster.local/ns/default/sa/web/extra",
    "spiffe:///ns/default/sa/web",
    "http://cluster.local/ns/default/sa/web",
  ]) {
    assert.equal(parseIdentity(bad), undefined, bad);
  }
  const segment = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/);
  fc.assert(
    fc.property(segment, segment, segment, (trustDomain, namespace, serviceAccount) => {
      const id = { trustDomain, namespace, serviceAccount };
      assert.deepEqual(parseIdentity(formatIdentity(id)), id);
    }),
  );
});
