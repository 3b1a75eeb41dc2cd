// What the client sends to authenticate, seen by a real gRPC server on loopback: the bearer token
// as `authorization` metadata, a token file read again on every (re)connect, and Node metadata.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { AdsService, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from "@weft/api";
import { DeltaXdsClient, StateStore, addressHandler } from "../src/index.js";

type Call = grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

interface Seen {
  readonly authorization: string | undefined;
  readonly first: Promise<DeltaDiscoveryRequest>;
  readonly call: Call;
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

void describe("DeltaXdsClient credentials", () => {
  const server = new grpc.Server();
  const streams: Seen[] = [];
  let address = "";
  let dir = "";
  const clients: DeltaXdsClient[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "weft-xds-token-"));
    server.addService(AdsService, {
      deltaAggregatedResources: (call: Call) => {
        const auth = call.metadata.get("authorization")[0];
        const first = new Promise<DeltaDiscoveryRequest>((resolve) => call.once("data", resolve));
        call.on("error", () => undefined);
        streams.push({ authorization: auth === undefined ? undefined : auth.toString(), first, call });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  function client(opts: {
    token?: string;
    tokenFile?: string;
    metadata?: Record<string, string>;
  }): DeltaXdsClient {
    const c = new DeltaXdsClient({
      address,
      credentials: { kind: "insecure" },
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : {}),
      node: { id: "n", ...(opts.metadata !== undefined ? { metadata: opts.metadata } : {}) },
      handlers: [addressHandler(new StateStore())],
      backoff: { baseMs: 10, maxMs: 20 },
    });
    clients.push(c);
    c.start();
    return c;
  }

  void it("sends a fixed token as 'authorization: Bearer <token>' and no header without one", async () => {
    const from = streams.length;
    client({ token: "tok-123" });
    client({});
    await until("two streams", () => streams.length >= from + 2);
    assert.deepEqual(
      streams
        .slice(from)
        .map((s) => s.authorization)
        .sort(),
      ["Bearer tok-123", undefined],
    );
  });

  void it("sends Node metadata with the first request (a waypoint names its Gateway)", async () => {
    const from = streams.length;
    client({ token: "t", metadata: { WEFT_WAYPOINT: "shop/waypoint" } });
    await until("a stream", () => streams.length > from);
    const first = await streams[from]!.first;
    assert.deepEqual(first.node?.metadata, { WEFT_WAYPOINT: "shop/waypoint" });
  });

  void it("reads the token file on every (re)connect and trims it", async () => {
    const file = join(dir, "token");
    await writeFile(file, "first-token\n");
    const from = streams.length;
    const c = client({ tokenFile: file });
    await until("the first stream", () => streams.length > from);
    assert.equal(streams[from]!.authorization, "Bearer first-token");
    await writeFile(file, "rotated-token\n");
    streams[from]!.call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: "expired" });
    await until("the reconnect", () => streams.length > from + 1);
    assert.equal(streams[from + 1]!.authorization, "Bearer rotated-token");
    await c.close();
  });

  void it("retries with backoff while the token file is missing, then connects", async () => {
    const file = join(dir, "later");
    const from = streams.length;
    const c = client({ tokenFile: file });
    await sleep(60);
    assert.equal(streams.length, from, "no stream without a token");
    assert.equal(c.connected, false);
    await writeFile(file, "late-token");
    await until("the stream once the file exists", () => streams.length > from);
    assert.equal(streams[from]!.authorization, "Bearer late-token");
    await c.close();
  });
});
