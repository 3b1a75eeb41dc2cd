// socketsInNetns: a batch of sockets made in one visit to a netns, all or nothing, and no fd left
// behind when it fails.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isWeftError } from "@weft/core";
import {
  MAX_SOCKET_BATCH,
  closeFd,
  isWeftNativeError,
  netnsCookie,
  socketNetnsCookie,
  socketsInNetns,
} from "@weft/native";
import { Cleanup, REPO, capable, makeNetns, rootMissing } from "./support.js";

const openFds = (): number => readdirSync("/proc/self/fd").length;

void describe("socketsInNetns", () => {
  const cleanup = new Cleanup();
  let ns: { name: string; path: string };

  before(() => {
    if (rootMissing() !== undefined) return;
    ns = makeNetns(cleanup);
  });
  after(() => cleanup.run());

  void it("makes `count` bound sockets, all in the target netns", async (t) => {
    if (!capable(t, rootMissing())) return;
    const cookie = await netnsCookie(ns.path);
    const fds = await socketsInNetns(ns.path, { family: 4, type: "tcp", address: "127.0.0.1", port: 0 }, 5);
    try {
      assert.equal(fds.length, 5);
      assert.equal(new Set(fds).size, 5);
      for (const fd of fds) assert.equal(socketNetnsCookie(fd), cookie);
    } finally {
      fds.forEach(closeFd);
    }
    // Each one is usable: listen on one inside the netns and connect another to it.
    const [a, b] = await socketsInNetns(
      ns.path,
      { family: 4, type: "tcp", address: "127.0.0.1", port: 0 },
      2,
    );
    const server = net.createServer((s) => s.end("hi"));
    await new Promise<void>((resolve) => server.listen({ fd: a! }, resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const client = new net.Socket({ fd: b! });
      client.connect({ host: "127.0.0.1", port });
      const got = await new Promise<string>((resolve, reject) => {
        let text = "";
        client.on("data", (d: Buffer) => (text += d.toString()));
        client.on("end", () => resolve(text));
        client.on("error", reject);
      });
      assert.equal(got, "hi");
      client.destroy();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  void it("fails as a whole and leaves no fd open", async (t) => {
    if (!capable(t, rootMissing())) return;
    const before = openFds();
    // Not an address of the netns: the first bind fails (EADDRNOTAVAIL).
    await assert.rejects(
      socketsInNetns(ns.path, { family: 4, type: "tcp", address: "10.255.0.1", port: 0 }, 8),
      (e: unknown) => isWeftError(e) && /EADDRNOTAVAIL|bind/.test(String((e as Error).message)),
    );
    // A fixed port: the second bind of the batch fails (EADDRINUSE) after the first succeeded.
    await assert.rejects(
      socketsInNetns(ns.path, { family: 4, type: "tcp", address: "127.0.0.1", port: 40123 }, 3),
      (e: unknown) => isWeftError(e),
    );
    assert.equal(openFds(), before);
  });

  void it("validates count", (t) => {
    if (!capable(t, rootMissing())) return;
    const raw = createRequire(import.meta.url)(join(REPO, "native", "build", "weft_native.node")) as {
      socketInNetns(path: string, opts: object, cb: () => void): void;
    };
    const inval = (e: unknown): boolean => isWeftNativeError(e) && e.code === "EINVAL";
    for (const count of [0, MAX_SOCKET_BATCH + 1, 1.5, -1]) {
      assert.throws(() => raw.socketInNetns(ns.path, { family: 4, type: "tcp", count }, () => {}), inval);
    }
    assert.throws(
      () =>
        raw.socketInNetns(
          ns.path,
          { family: 4, type: "tcp", address: "127.0.0.1", port: 0, backlog: 8, count: 2 },
          () => {},
        ),
      inval,
    );
  });
});
