// HBONE keepalive: a session whose peer answers PINGs stays up; one whose peer went silent (no FIN,
// no RST: a node lost) is destroyed after the PING timeout, so the pool stops using it. The peer
// is reached through a TCP relay that can turn into a black hole.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { once } from "node:events";
import { startKeepalive } from "../src/hbone/index.js";

interface Pair {
  readonly client: http2.ClientHttp2Session;
  /** From now on the relay drops every byte, both ways, and closes nothing. */
  blackhole(): void;
  close(): void;
}

async function h2PairThroughRelay(): Promise<Pair> {
  const server = http2.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const upstreamPort = (server.address() as net.AddressInfo).port;
  const sockets: net.Socket[] = [];
  let dropping = false;
  const relay = net.createServer((down) => {
    const up = net.connect(upstreamPort, "127.0.0.1");
    sockets.push(down, up);
    for (const [from, to] of [
      [down, up],
      [up, down],
    ] as const) {
      from.on("data", (chunk: Buffer) => {
        if (!dropping) to.write(chunk);
      });
      from.on("error", () => {});
    }
  });
  relay.listen(0, "127.0.0.1");
  await once(relay, "listening");
  const client = http2.connect(`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`);
  client.on("error", () => {});
  await once(client, "connect");
  return {
    client,
    blackhole: () => (dropping = true),
    close: () => {
      client.destroy();
      for (const s of sockets) s.destroy();
      relay.close();
      server.close();
    },
  };
}

void describe("startKeepalive", () => {
  void it("keeps a session whose peer answers", async () => {
    const p = await h2PairThroughRelay();
    startKeepalive(p.client, 50, 200);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(p.client.destroyed, false);
    p.close();
  });

  void it("destroys a session whose peer went silent, after the PING timeout", async () => {
    const p = await h2PairThroughRelay();
    const closed = new Promise<Error | undefined>((resolve) => {
      p.client.once("error", (e: Error) => resolve(e));
      p.client.once("close", () => resolve(undefined));
    });
    p.blackhole();
    startKeepalive(p.client, 50, 200);
    const err = await closed;
    assert.equal(p.client.destroyed, true);
    assert.match(err?.message ?? "", /did not answer PING within 200 ms/);
    p.close();
  });
});
