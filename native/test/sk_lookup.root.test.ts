// Unit tests of sk_lookup.bpf.c's rules with BPF_PROG_TEST_RUN: the kernel runs the program on a
// synthetic lookup context and reports the verdict and the cookie of the socket it selected.
// (connect4/6, sockops and getpeername have no kernel test_run; capture.root.test.ts covers them
// end to end. The kernel's test run refuses a non-zero ingress_ifindex, so the "arrived on lo"
// rule is proved with real traffic in inbound.root.test.ts.)
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  BpfObject,
  REASONS,
  WEFT_MAPS,
  closeFd,
  netnsCookie,
  readReasonCounters,
  skLookupCtx,
  socketCookie,
  socketInNetns,
  type BpfMap,
  type Reason,
  type SkLookupCtx,
} from "@weft/native";
import { Cleanup, bpfObject, capable, makeNetns, makePinRoot, rootMissing } from "./support.js";

const SK_DROP = 0;
const SK_PASS = 1;
const POD4 = "10.77.0.2";
const POD6 = "fd00:77::2";

void describe("sk_lookup rules (BPF_PROG_TEST_RUN)", () => {
  const cleanup = new Cleanup();
  let obj: BpfObject;
  let stats: BpfMap<number, bigint[]>;
  const cookies = { plaintext: 0n, hbone: 0n };

  before(async () => {
    if (rootMissing() !== undefined) return;
    const pinRoot = makePinRoot(cleanup);
    const ns = makeNetns(cleanup);
    obj = BpfObject.load(bpfObject("sk_lookup"), { pinRoot });
    cleanup.add(() => obj.close());
    const listeners = obj.map(WEFT_MAPS.listeners.name, WEFT_MAPS.listeners);
    const podIps = obj.map(WEFT_MAPS.podIps.name, WEFT_MAPS.podIps);
    const probes = obj.map(WEFT_MAPS.probeAllow.name, WEFT_MAPS.probeAllow);
    stats = obj.map(WEFT_MAPS.stats.name, WEFT_MAPS.stats);
    cleanup.add(() => [listeners, podIps, probes, stats].forEach((m) => m.close()));

    // Dual-stack listeners, as ztunnel makes them in a pod netns.
    for (const [kind, port] of [
      ["plaintext", 15006],
      ["hbone", 15008],
    ] as const) {
      const fd = await socketInNetns(ns.path, {
        family: 6,
        type: "tcp",
        address: "::",
        port,
        backlog: 16,
        v6only: false,
        reuseaddr: true,
      });
      cleanup.add(() => closeFd(fd));
      cookies[kind] = socketCookie(fd);
      listeners.setSocket({ address: POD4, kind }, fd);
      listeners.setSocket({ address: POD6, kind }, fd);
      // A sockhash lookup from user space returns the socket's cookie.
      assert.equal(listeners.lookup({ address: POD4, kind }), cookies[kind]);
    }
    const cookie = await netnsCookie(ns.path);
    podIps.update(POD4, { netnsCookie: cookie, flags: 0 });
    podIps.update(POD6, { netnsCookie: cookie, flags: 0 });
    podIps.update("10.77.0.3", { netnsCookie: cookie + 1n, flags: 0 }); // another pod
    probes.update("169.254.7.127/32", 1);
  });
  after(() => cleanup.run());

  function run(ctx: SkLookupCtx, program = obj): { verdict: number; cookie: bigint } {
    const r = program
      .program("weft_sk_lookup")
      .testRun({ ctxIn: skLookupCtx.encode(ctx), ctxOutSize: skLookupCtx.size });
    assert.ok(r.ctxOut);
    return { verdict: r.retval, cookie: skLookupCtx.decode(r.ctxOut).cookie ?? 0n };
  }

  const tcp4 = (remote: string, local: string, port: number): SkLookupCtx => ({
    family: 4,
    protocol: "tcp",
    remote: { address: remote, port: 40000 },
    local: { address: local, port },
  });
  const tcp6 = (remote: string, local: string, port: number): SkLookupCtx => ({
    ...tcp4(remote, local, port),
    family: 6,
  });

  const table: [string, SkLookupCtx, number, "plaintext" | "hbone" | undefined, Reason][] = [
    [
      "UDP passes untouched",
      { ...tcp4("10.77.0.9", POD4, 53), protocol: "udp" },
      SK_PASS,
      undefined,
      "SKLOOKUP_PASS_NOT_TCP",
    ],
    [
      "remote 127.0.0.1 passes (in-pod loopback)",
      tcp4("127.0.0.1", POD4, 8080),
      SK_PASS,
      undefined,
      "SKLOOKUP_PASS_LOOPBACK",
    ],
    [
      "remote 127.0.0.6 passes (ztunnel to the app)",
      tcp4("127.0.0.6", POD4, 8080),
      SK_PASS,
      undefined,
      "SKLOOKUP_PASS_LOOPBACK",
    ],
    ["remote ::1 passes", tcp6("::1", POD6, 8080), SK_PASS, undefined, "SKLOOKUP_PASS_LOOPBACK"],
    [
      "the pod talking to itself passes",
      tcp4(POD4, POD4, 8080),
      SK_PASS,
      undefined,
      "SKLOOKUP_PASS_POD_SELF",
    ],
    [
      "a kubelet probe source passes",
      tcp4("169.254.7.127", POD4, 8080),
      SK_PASS,
      undefined,
      "SKLOOKUP_PASS_PROBE",
    ],
    [
      "another pod's IP is not 'self'",
      tcp4("10.77.0.3", POD4, 8080),
      SK_PASS,
      "plaintext",
      "SKLOOKUP_PLAINTEXT",
    ],
    [
      "port 15008 goes to the HBONE listener",
      tcp4("10.77.0.9", POD4, 15008),
      SK_PASS,
      "hbone",
      "SKLOOKUP_HBONE",
    ],
    [
      "any other port goes to the plaintext listener",
      tcp4("10.77.0.9", POD4, 8080),
      SK_PASS,
      "plaintext",
      "SKLOOKUP_PLAINTEXT",
    ],
    [
      "IPv6 port 15008 goes to the HBONE listener",
      tcp6("fd00:77::9", POD6, 15008),
      SK_PASS,
      "hbone",
      "SKLOOKUP_HBONE",
    ],
    [
      "IPv6 other ports go to the plaintext listener",
      tcp6("fd00:77::9", POD6, 443),
      SK_PASS,
      "plaintext",
      "SKLOOKUP_PLAINTEXT",
    ],
    [
      "no listener for the local IP drops (fail closed)",
      tcp4("10.77.0.9", "10.77.0.99", 8080),
      SK_DROP,
      undefined,
      "SKLOOKUP_DROP_NO_LISTENER",
    ],
  ];

  for (const [name, ctx, verdict, listener, reason] of table) {
    void it(name, (t) => {
      if (!capable(t, rootMissing())) return;
      const before = readReasonCounters(stats)[reason];
      const r = run(ctx);
      assert.equal(r.verdict, verdict, "verdict");
      assert.equal(r.cookie, listener === undefined ? 0n : cookies[listener], "selected socket");
      assert.equal(readReasonCounters(stats)[reason], before + 1n, `counter ${reason} (#${REASONS[reason]})`);
    });
  }

  void it("the HBONE port comes from .rodata", (t) => {
    if (!capable(t, rootMissing())) return;
    const custom = BpfObject.load(bpfObject("sk_lookup"), {
      pinRoot: obj.pinRoot ?? "",
      rodata: { hbone_port: 16008 },
    });
    try {
      assert.equal(run(tcp4("10.77.0.9", POD4, 16008), custom).cookie, cookies.hbone);
      assert.equal(run(tcp4("10.77.0.9", POD4, 15008), custom).cookie, cookies.plaintext);
    } finally {
      custom.close();
    }
  });
});
