// Inbound capture end to end: sk_lookup linked into a pod netns, ztunnel-like listeners for
// :15006 (plaintext) and :15008 (HBONE) in the weft_listeners sockhash, and clients in another
// netns across a veth. Also: loopback and self traffic reach the app, no listener means dropped
// (never delivered to the app), a link can swap its program in place, and a pinned link keeps
// capturing after its fd is closed.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  BpfLink,
  BpfObject,
  ORIGINAL_SOURCE_MARK,
  WEFT_MAPS,
  bindSocket,
  netnsCookie,
  readReasonCounters,
  setUpOriginalSource,
  socketInNetns,
  takeDownOriginalSource,
  type BpfMap,
  type ListenerKey,
} from "@weft/native";
import {
  Cleanup,
  bpfObject,
  capable,
  eventually,
  makeNetns,
  makePinRoot,
  rootMissing,
  sh,
  suffix,
} from "./support.js";

const POD4 = "10.248.0.2";
const POD6 = "fd00:248::2";

interface Landed {
  listener: "plaintext" | "hbone" | "app";
  localAddress: string;
  localPort: number;
  remotePort: number;
}

void describe("inbound capture (sk_lookup)", () => {
  const cleanup = new Cleanup();
  const landed: Landed[] = [];
  const listenerFds = { plaintext: -1, hbone: -1 };
  let pod = { name: "", path: "" };
  let peer = { name: "", path: "" };
  let pinRoot = "";
  let obj: BpfObject;
  let link: BpfLink | undefined;
  let listeners: BpfMap<ListenerKey, bigint>;
  let stats: BpfMap<number, bigint[]>;

  async function listen(kind: Landed["listener"], port: number): Promise<number> {
    const fd = await socketInNetns(pod.path, {
      family: 6,
      type: "tcp",
      address: "::",
      port,
      backlog: 64,
      reuseaddr: true,
      v6only: false,
    });
    const server = net.createServer((s) => {
      s.on("error", () => {}); // clients here may reset; only where a connection lands matters
      landed.push({
        listener: kind,
        localAddress: s.localAddress ?? "",
        localPort: s.localPort ?? 0,
        remotePort: s.remotePort ?? 0,
      });
      s.end("ok\n");
    });
    server.listen({ fd });
    cleanup.add(() => server.close());
    return fd;
  }

  function registerListeners(): void {
    for (const address of [POD4, POD6]) {
      listeners.setSocket({ address, kind: "plaintext" }, listenerFds.plaintext);
      listeners.setSocket({ address, kind: "hbone" }, listenerFds.hbone);
    }
  }

  before(async () => {
    if (rootMissing() !== undefined) return;
    pinRoot = makePinRoot(cleanup);
    pod = makeNetns(cleanup);
    peer = makeNetns(cleanup);
    const [vp, vc] = [`wp${suffix()}`, `wc${suffix()}`];
    sh("ip", ["-n", pod.name, "link", "add", vp, "type", "veth", "peer", "name", vc, "netns", peer.name]);
    for (const [ns, dev, v4, v6] of [
      [pod.name, vp, `${POD4}/24`, `${POD6}/64`],
      [peer.name, vc, "10.248.0.1/24", "fd00:248::1/64"],
    ] as const) {
      sh("ip", ["-n", ns, "addr", "add", v4, "dev", dev]);
      sh("ip", ["-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
      sh("ip", ["-n", ns, "link", "set", dev, "up"]);
    }

    obj = BpfObject.load(bpfObject("sk_lookup"), { pinRoot });
    cleanup.add(() => obj.close());
    listeners = obj.map(WEFT_MAPS.listeners.name, WEFT_MAPS.listeners);
    stats = obj.map(WEFT_MAPS.stats.name, WEFT_MAPS.stats);
    const podIps = obj.map(WEFT_MAPS.podIps.name, WEFT_MAPS.podIps);
    cleanup.add(() => [listeners, stats, podIps].forEach((m) => m.close()));
    podIps.update(POD4, { netnsCookie: await netnsCookie(pod.path), flags: 0 });
    podIps.update(POD6, { netnsCookie: await netnsCookie(pod.path), flags: 0 });

    listenerFds.plaintext = await listen("plaintext", 15006);
    listenerFds.hbone = await listen("hbone", 15008);
    await listen("app", 8080);
    registerListeners();
    link = obj.program("weft_sk_lookup").attachNetns(pod.path);
    cleanup.add(() => link?.close());
  });
  after(() => cleanup.run());

  /** Connect from inside `ns` and wait until some listener in the pod accepted it. */
  async function connect(ns: string, host: string, port: number): Promise<Landed> {
    const fd = await socketInNetns(ns, { family: net.isIPv6(host) ? 6 : 4, type: "tcp" });
    const socket = new net.Socket({ fd });
    try {
      const localPort = await new Promise<number>((resolve, reject) => {
        socket.once("error", reject);
        socket.connect(port, host, () => resolve(socket.localPort ?? 0));
      });
      return await eventually(`a listener to accept ${host}:${port}`, () =>
        landed.find((l) => l.remotePort === localPort),
      );
    } finally {
      socket.destroy();
    }
  }

  void it("a plaintext connection to podIP:8080 lands on :15006 with port 8080 preserved", async (t) => {
    if (!capable(t, rootMissing())) return;
    const l = await connect(peer.path, POD4, 8080);
    assert.equal(l.listener, "plaintext");
    assert.equal(l.localAddress, `::ffff:${POD4}`);
    assert.equal(l.localPort, 8080, "the original destination is the accepted socket's local address");
  });

  void it("a connection to podIP:15008 lands on the HBONE listener", async (t) => {
    if (!capable(t, rootMissing())) return;
    const l = await connect(peer.path, POD4, 15008);
    assert.equal(l.listener, "hbone");
    assert.equal(l.localPort, 15008);
  });

  void it("IPv6 is captured the same way", async (t) => {
    if (!capable(t, rootMissing())) return;
    const l = await connect(peer.path, POD6, 8080);
    assert.equal(l.listener, "plaintext");
    assert.equal(l.localAddress, POD6);
    assert.equal(l.localPort, 8080);
  });

  void it("loopback and the pod's own IP inside the pod reach the app", async (t) => {
    if (!capable(t, rootMissing())) return;
    assert.equal((await connect(pod.path, "127.0.0.1", 8080)).listener, "app");
    assert.equal((await connect(pod.path, POD4, 8080)).listener, "app");
  });

  void it("ztunnel's dial to the app from a client's own IP reaches the app only when registered", async (t) => {
    if (!capable(t, rootMissing())) return;
    await setUpOriginalSource(pod.path, { ipv6: true });
    cleanup.add(() => void takeDownOriginalSource(pod.path, { ipv6: true }).catch(() => {}));
    const origSrc = obj.map(WEFT_MAPS.origSrc.name, WEFT_MAPS.origSrc);
    cleanup.add(() => origSrc.close());
    const cookie = await netnsCookie(pod.path);
    /** A transparent dial from `client` to `host`:8080, registered in weft_orig_src or not. */
    const dial = async (host: string, client: string, register: boolean): Promise<Landed> => {
      const fd = await socketInNetns(pod.path, {
        family: net.isIPv6(host) ? 6 : 4,
        type: "tcp",
        transparent: true,
        mark: ORIGINAL_SOURCE_MARK,
      });
      const port = bindSocket(fd, client);
      const key = { netnsCookie: cookie, src: { address: client, port }, dst: { address: host, port: 8080 } };
      if (register) origSrc.update(key, 0);
      const socket = new net.Socket({ fd });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once("error", reject);
          socket.connect({ host, port: 8080 }, resolve);
        });
        assert.equal(socket.localAddress, client);
        assert.equal(socket.localPort, port);
        return await eventually(`a listener to accept ${host}:8080 from ${client}`, () =>
          landed.find((x) => x.remotePort === port),
        );
      } finally {
        if (register) origSrc.delete(key);
        socket.destroy();
      }
    };
    const before = readReasonCounters(stats).SKLOOKUP_PASS_ORIGINAL_SOURCE;
    assert.equal((await dial(POD4, "10.248.0.1", true)).listener, "app");
    assert.equal((await dial(POD6, "fd00:248::1", true)).listener, "app");
    assert.equal(readReasonCounters(stats).SKLOOKUP_PASS_ORIGINAL_SOURCE - before, 2n);
    // Not registered: a SYN from a foreign address is captured like any other.
    assert.equal((await dial(POD4, "10.248.0.1", false)).listener, "plaintext");
  });

  void it("without a listener in the sockhash the connection is dropped, never given to the app", async (t) => {
    if (!capable(t, rootMissing())) return;
    assert.equal(listeners.delete({ address: POD4, kind: "plaintext" }), true);
    try {
      const before = readReasonCounters(stats).SKLOOKUP_DROP_NO_LISTENER;
      const seen = landed.length;
      const fd = await socketInNetns(peer.path, { family: 4, type: "tcp" });
      const socket = new net.Socket({ fd });
      let connected = false;
      socket.on("error", () => {});
      socket.connect(8080, POD4, () => (connected = true));
      try {
        await eventually("the SYN to be dropped", () =>
          readReasonCounters(stats).SKLOOKUP_DROP_NO_LISTENER > before ? true : undefined,
        );
      } finally {
        socket.destroy();
      }
      assert.equal(connected, false);
      assert.deepEqual(landed.slice(seen), [], "nothing was accepted, by the app or anyone");
    } finally {
      registerListeners();
    }
  });

  void it("updating a link swaps its program in place, and back", async (t) => {
    if (!capable(t, rootMissing()) || link === undefined) return;
    // A second load of sk_lookup whose HBONE port (.rodata) is 8080, sharing the pinned maps.
    const other = BpfObject.load(bpfObject("sk_lookup"), { pinRoot, rodata: { hbone_port: 8080 } });
    try {
      const original = link.info();
      link.update(other.program("weft_sk_lookup"));
      const swapped = link.info();
      assert.equal(swapped.id, original.id, "the same link");
      assert.notEqual(swapped.progId, original.progId, "now running the other program");
      assert.equal((await connect(peer.path, POD4, 8080)).listener, "hbone", "8080 is HBONE now");
      assert.equal((await connect(peer.path, POD4, 15008)).listener, "plaintext", "15008 is not");

      link.update(obj.program("weft_sk_lookup"));
      assert.equal(link.info().progId, original.progId);
      assert.equal((await connect(peer.path, POD4, 8080)).listener, "plaintext");
      assert.equal((await connect(peer.path, POD4, 15008)).listener, "hbone");
    } finally {
      other.close();
    }
    // The link keeps the program it runs alive, not the object's fd: after close() it still captures.
    assert.equal((await connect(peer.path, POD4, 8080)).listener, "plaintext");
  });

  void it("a pinned link keeps capturing after its fd closes; unpinning releases the pod", async (t) => {
    if (!capable(t, rootMissing()) || link === undefined) return;
    const dir = join(pinRoot, "pods", "uid-1");
    mkdirSync(dir, { recursive: true });
    const pin = join(dir, "sk_lookup");
    link.pin(pin);
    link.close();
    link = undefined;
    assert.equal(
      (await connect(peer.path, POD4, 8080)).listener,
      "plaintext",
      "still captured through the pin",
    );

    // A restarted ztunnel finds the link again.
    const reopened = BpfLink.openPinned(pin);
    try {
      const info = reopened.info();
      assert.equal(info.type, "netns");
      assert.equal(info.attachType, "sk_lookup");
      assert.ok((info.netnsIno ?? 0) > 0, "attached to a live netns");
    } finally {
      reopened.close();
    }

    BpfLink.unpin(pin);
    // The kernel releases the last reference asynchronously; the app gets the next connections.
    let last: Landed | undefined;
    for (let i = 0; i < 50 && last?.listener !== "app"; i++) {
      last = await connect(peer.path, POD4, 8080);
      if (last.listener !== "app") await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(last?.listener, "app", "after unpin, sk_lookup no longer captures");
  });
});
