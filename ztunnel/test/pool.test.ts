// The HBONE pool over real TLS/HTTP/2 on loopback: a burst of streams shares few sessions (the
// handshake is the expensive part), no session carries more than its stream limit, idle sessions
// are released, and a session the peer GOAWAYs is not handed out again.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connectHboneSession } from "../src/hbone/index.js";
import { HbonePool, poolKeyId, type PoolKey } from "../src/pool/index.js";
import { readAll, until } from "./helpers/net.js";
import { CLIENT_ID, SERVER_ID, hboneWorld, quietLogger, type HboneWorld } from "./helpers/world.js";

void describe("HbonePool", () => {
  let w: HboneWorld;
  const key = (): PoolKey => ({
    srcIdentity: CLIENT_ID,
    dstIdentities: [SERVER_ID],
    nextHop: `127.0.0.1:${w.port}`,
  });
  const pool = (opts: { maxStreamsPerConnection?: number; idleTimeoutMs?: number } = {}): HbonePool =>
    new HbonePool({
      logger: quietLogger,
      ...opts,
      connect: () =>
        connectHboneSession({
          host: "127.0.0.1",
          port: w.port,
          secureContext: w.clientContext,
          expectedIdentities: [SERVER_ID],
        }),
    });

  before(async () => {
    w = await hboneWorld();
  });
  after(async () => {
    await w.close();
  });

  void it("keys ignore the order of the acceptable identities", () => {
    const a = poolKeyId({ srcIdentity: "s", dstIdentities: ["x", "y"], nextHop: "1.2.3.4:15008" });
    const b = poolKeyId({ srcIdentity: "s", dstIdentities: ["y", "x"], nextHop: "1.2.3.4:15008" });
    assert.equal(a, b);
    assert.notEqual(
      a,
      poolKeyId({ srcIdentity: "s", dstIdentities: ["x", "y"], nextHop: "1.2.3.4:15008", srcIp: "10.0.0.1" }),
    );
  });

  void it("a burst of 300 new streams costs 3 handshakes, never more than 100 streams per session", async () => {
    const p = pool();
    const streams = await Promise.all(
      Array.from({ length: 300 }, () => p.connect(key(), { authority: w.echoAuthority })),
    );
    const snap = p.snapshot();
    assert.equal(snap.handshakes, 3);
    assert.equal(snap.connections, 3);
    for (const c of snap.keys[0]!.connections)
      assert.ok(c.streams <= 100, `session with ${c.streams} streams`);
    const echoed = await Promise.all(
      streams.map((s, i) => {
        s.end(`stream ${i}`);
        return readAll(s);
      }),
    );
    assert.deepEqual(
      echoed.map((b) => b.toString()),
      streams.map((_, i) => `stream ${i}`),
    );
    await until(() => p.size.streams === 0, 5000, "streams released");
    // Reused, not reopened: another stream needs no new handshake.
    const again = await p.connect(key(), { authority: w.echoAuthority });
    again.end("x");
    await readAll(again);
    assert.equal(p.snapshot().handshakes, 3);
    p.close(true);
  });

  void it("honours a lower stream limit", async () => {
    const p = pool({ maxStreamsPerConnection: 2 });
    const streams = await Promise.all(
      Array.from({ length: 5 }, () => p.connect(key(), { authority: w.echoAuthority })),
    );
    assert.equal(p.snapshot().handshakes, 3);
    for (const s of streams) s.destroy();
    p.close(true);
  });

  void it("releases an idle session after the idle timeout", async () => {
    const p = pool({ idleTimeoutMs: 200 });
    const s = await p.connect(key(), { authority: w.echoAuthority });
    s.end("bye");
    await readAll(s);
    await until(() => p.size.connections === 0, 5000, "idle session released");
    p.close(true);
  });

  void it("does not hand out a session after the peer's GOAWAY; the next stream starts a new handshake", async () => {
    const p = pool();
    const s = await p.connect(key(), { authority: w.echoAuthority });
    const session = s.session ?? assert.fail("stream without a session");
    const goaway = once(session, "goaway");
    w.hbone.close(false); // the server drains: GOAWAY on every session; streams in flight finish
    await goaway;
    s.end("finishing");
    assert.equal((await readAll(s)).toString(), "finishing");
    assert.equal(p.snapshot().keys[0]?.connections[0]?.draining ?? true, true);
    // The drained session is not reused: a new handshake is attempted (and refused, the server is closing).
    await assert.rejects(p.connect(key(), { authority: w.echoAuthority }));
    assert.equal(p.snapshot().handshakes, 2);
    p.close(true);
  });

  void it("refuses new streams once closed (draining)", async () => {
    const p = pool();
    p.close();
    await assert.rejects(
      p.connect(key(), { authority: w.echoAuthority }),
      (e: Error & { code?: string }) => e.code === "WEFT_E_UNAVAILABLE",
    );
  });
});
