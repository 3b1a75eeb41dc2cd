import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect, type Socket } from "node:net";
import { once } from "node:events";
import { Drain, isWeftError, onSignal } from "@weft/core";

void test("drain with nothing in flight resolves with forced 0 and refuses new work", async () => {
  const d = new Drain();
  assert.equal(d.isDraining, false);
  assert.deepEqual(await d.drain(60_000), { forced: 0 });
  assert.equal(d.isDraining, true);
  assert.throws(
    () => d.enter(),
    (err: unknown) => isWeftError(err, "WEFT_E_UNAVAILABLE") && /draining/.test(err.message),
  );
  assert.throws(
    () => d.track(Promise.resolve()),
    (err: unknown) => isWeftError(err, "WEFT_E_UNAVAILABLE"),
  );
  let called = false;
  assert.throws(() =>
    d.track(() => {
      called = true;
      return Promise.resolve();
    }),
  );
  assert.equal(called, false, "the work function is not started while draining");
});

void test("drain waits for in-flight work to finish, without forcing", { timeout: 10_000 }, async () => {
  const d = new Drain();
  let forceCalls = 0;
  d.onForce(() => forceCalls++);
  const a = d.enter();
  const b = d.enter();
  assert.equal(d.inFlight, 2);
  const result = d.drain(600_000);
  assert.equal(d.isDraining, true);
  a();
  a(); // releasing twice counts once
  assert.equal(d.inFlight, 1);
  b();
  assert.deepEqual(await result, { forced: 0 });
  assert.equal(forceCalls, 0);
  assert.equal(d.drain(1), result, "draining again returns the same result");
});

void test("track counts a promise until it settles, either way", async () => {
  const d = new Drain();
  let resolveA!: (v: string) => void;
  let rejectB!: (e: Error) => void;
  const a = d.track(new Promise<string>((r) => (resolveA = r)));
  const b = d.track(() => new Promise<void>((_r, j) => (rejectB = j)));
  assert.equal(d.inFlight, 2);
  resolveA("done");
  assert.equal(await a, "done");
  assert.equal(d.inFlight, 1);
  rejectB(new Error("boom"));
  await assert.rejects(b, /boom/);
  assert.equal(d.inFlight, 0);
  assert.throws(
    () =>
      d.track(() => {
        throw new Error("sync throw");
      }),
    /sync throw/,
  );
  assert.equal(d.inFlight, 0, "a work function that throws synchronously is released");
});

void test("at the deadline, onForce callbacks run and forced counts the work left", async (t) => {
  // Real sockets: the force callback destroys the connections the drain is waiting for.
  const d = new Drain();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const release = d.enter();
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      release();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const clients = [connect(port, "127.0.0.1"), connect(port, "127.0.0.1"), connect(port, "127.0.0.1")];
  t.after(() => {
    for (const c of clients) c.destroy();
    server.close();
  });
  for (const c of clients) c.on("error", () => {});
  while (d.inFlight < 3) await new Promise((r) => setImmediate(r));

  d.onForce(() => {
    throw new Error("a broken owner must not stop the others");
  });
  const unregistered = d.onForce(() => assert.fail("unregistered callbacks are not called"));
  unregistered();
  d.onForce(() => {
    for (const s of sockets) s.destroy();
  });
  assert.deepEqual(await d.drain(50), { forced: 3 });
  await Promise.all(clients.map((c) => (c.closed ? Promise.resolve() : once(c, "close"))));
  while (d.inFlight > 0) await new Promise((r) => setImmediate(r));
  assert.equal(d.inFlight, 0, "forced work released its tokens");
});

void test("onSignal calls the handler once, then uninstalls itself from every signal", async () => {
  const before = { term: process.listenerCount("SIGTERM"), int: process.listenerCount("SIGINT") };
  const got: NodeJS.Signals[] = [];
  const uninstall = onSignal(["SIGTERM", "SIGINT"], (s) => got.push(s));
  assert.equal(process.listenerCount("SIGTERM"), before.term + 1);
  assert.equal(process.listenerCount("SIGINT"), before.int + 1);
  // A real signal to ourselves: the installed listener keeps Node from exiting.
  process.kill(process.pid, "SIGTERM");
  while (got.length === 0) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(got, ["SIGTERM"]);
  assert.equal(process.listenerCount("SIGTERM"), before.term);
  assert.equal(process.listenerCount("SIGINT"), before.int);
  uninstall(); // harmless after it fired
});

void test("the uninstall function removes the handlers before any signal", () => {
  const before = process.listenerCount("SIGINT");
  const uninstall = onSignal(["SIGINT"], () => assert.fail("must not run"));
  assert.equal(process.listenerCount("SIGINT"), before + 1);
  uninstall();
  assert.equal(process.listenerCount("SIGINT"), before);
});
