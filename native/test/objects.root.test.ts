// Every object in bpf/out loads, and they share one instance of each map through the pin root
// (LIBBPF_PIN_BY_NAME) — which is what lets connect, sockops, getpeername and sk_lookup, loaded as
// separate objects, and a restarted ztunnel all see the same state. Also: the optional bind
// program keeps apps off ztunnel's ports.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, describe, it } from "node:test";
import { BpfObject, WEFT_MAPS, openPinnedMap, type Codec } from "@weft/native";
import {
  BPF_OUT,
  Cleanup,
  bpfObject,
  capable,
  makeCgroup,
  makeNetns,
  makePinRoot,
  rootMissing,
  runInPod,
} from "./support.js";

// Sizes are not the point here (layout.test.ts checks them): accept whatever the map has.
const anyBytes: Codec<Buffer> = { size: undefined, encode: (b) => b, decode: (b) => b };

void describe("bpf objects", () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  void it("all load under one pin root and share their maps", (t) => {
    if (!capable(t, rootMissing())) return;
    const pinRoot = makePinRoot(cleanup);
    const files = readdirSync(BPF_OUT).filter((f) => f.endsWith(".bpf.o"));
    assert.deepEqual(
      files.sort(),
      ["bind", "connect", "dns", "getpeername", "sk_lookup", "sockops"].map((n) => `${n}.bpf.o`),
    );
    const ids = new Map<string, Set<number>>();
    for (const file of files) {
      const obj = BpfObject.load(`${BPF_OUT}/${file}`, { pinRoot });
      try {
        for (const spec of Object.values(WEFT_MAPS)) {
          const map = obj.map(spec.name, { key: anyBytes, value: anyBytes });
          ids.set(spec.name, (ids.get(spec.name) ?? new Set()).add(map.info.id));
          map.close();
        }
      } finally {
        obj.close();
      }
    }
    for (const [name, set] of ids) assert.equal(set.size, 1, `${name} is one map across all objects`);
    // ...and it outlives the objects, through its pin.
    const stats = openPinnedMap(pinRoot, WEFT_MAPS.stats);
    assert.equal(stats.info.id, [...(ids.get("weft_stats") ?? [])][0]);
    stats.close();
  });

  void it("bind.bpf.o denies apps binding ztunnel's ports and allows others", async (t) => {
    if (!capable(t, rootMissing())) return;
    const pinRoot = makePinRoot(cleanup);
    const cgroup = makeCgroup(cleanup);
    const ns = makeNetns(cleanup);
    const obj = BpfObject.load(bpfObject("bind"), { pinRoot });
    cleanup.add(() => obj.close());
    for (const p of ["weft_bind4", "weft_bind6"]) {
      const link = obj.program(p).attachCgroup(cgroup);
      cleanup.add(() => link.close());
    }
    const tryListen = `
      const net = require("net");
      const results = [];
      const next = (ports) => {
        if (ports.length === 0) return process.stdout.write(JSON.stringify(results));
        const [host, port] = ports[0];
        const s = net.createServer().once("error", (e) => { results.push(e.code); next(ports.slice(1)); });
        s.listen(port, host, () => { results.push("ok"); s.close(() => next(ports.slice(1))); });
      };
      next([["127.0.0.1", 15001], ["::", 15006], ["0.0.0.0", 15008], ["127.0.0.1", 15053], ["127.0.0.1", 8080]]);
    `;
    const out = await runInPod(cgroup, ns.name, tryListen, []);
    assert.deepEqual(JSON.parse(out), ["EPERM", "EPERM", "EPERM", "EPERM", "ok"]);
  });
});
