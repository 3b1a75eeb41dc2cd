// connectInNetns keeps a batch of ready sockets per netns and source address: connections are made
// from inside the netns, the ready ones are refilled, and unenrolling (releaseNetnsSockets) closes
// every socket that was not handed out.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { socketInNetns } from "@weft/native";
import {
  SOCKET_BATCH,
  connectInNetns,
  readySocketCounts,
  releaseNetnsSockets,
} from "../src/proxy/sockets.js";

const openFds = (): number => readdirSync("/proc/self/fd").length;
/**
 * Root-only, like the other root suites (@weft/test rootOnly, native's capable): a printed skip on
 * a machine without root, a failure under CI=true, where nothing may silently skip.
 */
function rootOnly(): { skip?: string } {
  if (process.getuid?.() === 0) return {};
  const reason = "needs root (ip netns, setns)";
  if (process.env["CI"] === "true") throw new Error(`cannot run on CI: ${reason}`);
  console.log(`# skipping root-only suite: ${reason}`);
  return { skip: reason };
}

void describe("sockets in a pod netns", rootOnly(), () => {
  const name = `weft-zs-${randomBytes(3).toString("hex")}`;
  const path = `/run/netns/${name}`;
  let server: net.Server;
  let port = 0;
  const accepted: net.Socket[] = [];

  before(async () => {
    execFileSync("ip", ["netns", "add", name]);
    execFileSync("ip", ["-n", name, "link", "set", "lo", "up"]);
    const fd = await socketInNetns(path, {
      family: 4,
      type: "tcp",
      address: "127.0.0.1",
      port: 0,
      backlog: 64,
    });
    server = net.createServer({ allowHalfOpen: true }, (s) => {
      accepted.push(s);
      s.end(`${s.remoteAddress}`);
    });
    await new Promise<void>((resolve) => server.listen({ fd }, resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    releaseNetnsSockets(path);
    accepted.forEach((s) => s.destroy());
    await new Promise((resolve) => server.close(resolve));
    execFileSync("ip", ["netns", "del", name]);
  });

  const dial = async (): Promise<string> => {
    const s = await connectInNetns({ netnsPath: path, host: "127.0.0.1", port, localAddress: "127.0.0.6" });
    let text = "";
    s.on("data", (d: Buffer) => (text += d.toString()));
    await new Promise((resolve) => s.on("end", resolve));
    s.destroy();
    return text;
  };

  void it("connects from inside the netns, from the requested source, with sockets made in batches", async () => {
    const fdsBefore = openFds();
    // More than one batch, some of them at once (concurrent takers share a fill).
    const first = await Promise.all(Array.from({ length: SOCKET_BATCH + 3 }, dial));
    const rest = [];
    for (let i = 0; i < SOCKET_BATCH; i++) rest.push(await dial());
    for (const from of [...first, ...rest]) assert.equal(from, "127.0.0.6");
    const ready = readySocketCounts().get(path) ?? 0;
    assert.ok(ready > 0 && ready <= 2 * SOCKET_BATCH, `ready sockets held: ${ready}`);
    // Every fd above the baseline is a ready socket (the dialled and accepted ones are closed).
    accepted.splice(0).forEach((s) => s.destroy());
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(openFds() - fdsBefore, ready);
    releaseNetnsSockets(path);
    assert.equal(readySocketCounts().get(path), undefined);
    assert.equal(openFds(), fdsBefore);
    // Usable again after a release (a new batch is made).
    assert.equal(await dial(), "127.0.0.6");
    releaseNetnsSockets(path);
    accepted.splice(0).forEach((s) => s.destroy());
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(openFds(), fdsBefore);
  });

  void it("a netns that cannot be entered fails the connection, and nothing is cached", async () => {
    await assert.rejects(
      connectInNetns({ netnsPath: "/run/netns/weft-zs-missing", host: "127.0.0.1", port }),
      /weft-zs-missing/,
    );
    assert.equal(readySocketCounts().get("/run/netns/weft-zs-missing") ?? 0, 0);
  });
});
