// The client against a scripted ADS server over real gRPC on loopback: the test plays the
// controller's part message by message, so it can send exactly the resources it wants to check.
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { create, toJson } from "@bufbuild/protobuf";
import { anyUnpack, StructSchema, type Any } from "@bufbuild/protobuf/wkt";
import {
  AddressSchema,
  AdsService,
  AuthorizationSchema,
  DeltaDiscoveryResponseSchema,
  PreEncoded,
  TYPE_URL,
  packAny,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from "@weft/api";
import { DeltaXdsClient, StateStore, addressHandler, authorizationHandler } from "../src/index.js";

type Call = grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

class ScriptedServer {
  readonly calls: { call: Call; requests: DeltaDiscoveryRequest[] }[] = [];
  readonly server = new grpc.Server();
  address = "";

  async start(): Promise<void> {
    this.server.addService(AdsService, {
      deltaAggregatedResources: (call: Call) => {
        const entry = { call, requests: [] as DeltaDiscoveryRequest[] };
        this.calls.push(entry);
        call.on("data", (r: DeltaDiscoveryRequest) => entry.requests.push(r));
        call.on("error", () => undefined);
      },
      streamAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    this.address = `127.0.0.1:${port}`;
  }

  async request(stream: number, index: number): Promise<DeltaDiscoveryRequest> {
    await until(() => (this.calls[stream]?.requests.length ?? 0) > index);
    return this.calls[stream]!.requests[index]!;
  }

  send(
    stream: number,
    typeUrl: string,
    nonce: string,
    resources: [string, string, Any][],
    removed: string[] = [],
  ): void {
    this.calls[stream]!.call.write(
      create(DeltaDiscoveryResponseSchema, {
        typeUrl,
        nonce,
        resources: resources.map(([name, version, resource]) => ({ name, version, resource })),
        removedResources: removed,
      }),
    );
  }

  close(): void {
    this.server.forceShutdown();
  }
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await tick();
  }
}

function workloadAny(uid: string, ip: number[]): Any {
  return packAny(
    AddressSchema,
    create(AddressSchema, {
      type: {
        case: "workload",
        value: {
          uid,
          name: uid,
          namespace: "default",
          addresses: [new Uint8Array(ip)],
          serviceAccount: "sa",
        },
      },
    }),
  );
}

function serviceAny(ns: string, hostname: string): Any {
  return packAny(
    AddressSchema,
    create(AddressSchema, {
      type: {
        case: "service",
        value: {
          name: "svc",
          namespace: ns,
          hostname,
          addresses: [{ network: "", address: new Uint8Array([10, 96, 0, 1]) }],
          ports: [{ servicePort: 80, targetPort: 8080 }],
        },
      },
    }),
  );
}

let server: ScriptedServer | undefined;
let client: DeltaXdsClient | undefined;
afterEach(async () => {
  await client?.close();
  server?.close();
  client = undefined;
  server = undefined;
});

async function setup(): Promise<{ server: ScriptedServer; client: DeltaXdsClient; store: StateStore }> {
  server = new ScriptedServer();
  await server.start();
  const store = new StateStore();
  client = new DeltaXdsClient({
    address: server.address,
    credentials: { kind: "insecure" },
    node: { id: "ztunnel-test" },
    handlers: [addressHandler(store), authorizationHandler(store)],
    backoff: { baseMs: 10, maxMs: 50 },
  });
  client.start();
  return { server, client, store };
}

void describe("DeltaXdsClient", () => {
  void it("subscribes to each type, wildcard, with the node on the first request", async () => {
    const { server } = await setup();
    const first = await server.request(0, 0);
    const second = await server.request(0, 1);
    assert.equal(first.node?.id, "ztunnel-test");
    assert.deepEqual([first.typeUrl, second.typeUrl], [TYPE_URL.Address, TYPE_URL.Authorization]);
    assert.deepEqual(first.resourceNamesSubscribe, []);
    assert.deepEqual(first.initialResourceVersions, {});
  });

  void it("NACKs one bad resource by name and applies the others", async () => {
    const { server, client, store } = await setup();
    await server.request(0, 1);
    const nacks: string[] = [];
    client.on("nacked", (e) => nacks.push(...e.rejected.map((r) => r.name)));
    server.send(0, TYPE_URL.Address, "n1", [
      ["w1", "v1", workloadAny("w1", [10, 0, 0, 1])],
      ["bad", "v1", workloadAny("bad", [10, 0, 0, 1, 7])],
      ["wrongname", "v1", workloadAny("w9", [10, 0, 0, 9])],
      ["default/svc.default.svc.cluster.local", "v1", serviceAny("default", "svc.default.svc.cluster.local")],
      ["notanaddress", "v1", packAny(AuthorizationSchema, create(AuthorizationSchema, { name: "x" }))],
    ]);
    const reply = await server.request(0, 2);
    assert.equal(reply.responseNonce, "n1");
    assert.ok(reply.errorDetail !== undefined, "expected a NACK");
    assert.match(reply.errorDetail.message, /bad: addresses\[0\] has 5 bytes/);
    assert.match(reply.errorDetail.message, /the others were applied/);
    const detail = anyUnpack(reply.errorDetail.details[0]!, StructSchema);
    assert.ok(detail !== undefined);
    const rejected = toJson(StructSchema, detail)["rejected"] as Record<string, string>;
    assert.deepEqual(Object.keys(rejected).sort(), ["bad", "notanaddress", "wrongname"]);
    assert.match(rejected["wrongname"]!, /does not match its content key "w9"/);
    assert.match(rejected["notanaddress"]!, /expected type.googleapis.com\/istio.workload.Address/);
    assert.deepEqual(nacks.sort(), ["bad", "notanaddress", "wrongname"]);

    assert.deepEqual([...store.current.workloads.keys()], ["w1"]);
    assert.ok(store.current.service("default/svc.default.svc.cluster.local") !== undefined);
    assert.deepEqual(Object.fromEntries(client.versions(TYPE_URL.Address)), {
      w1: "v1",
      "default/svc.default.svc.cluster.local": "v1",
    });
  });

  void it("a resource the store's validation refuses is NACKed too (phase two)", async () => {
    const { server, store } = await setup();
    await server.request(0, 1);
    // Valid protobuf, but a workload with duplicate addresses fails the store's validation.
    server.send(0, TYPE_URL.Address, "n1", [
      [
        "dup",
        "v1",
        packAny(
          AddressSchema,
          create(AddressSchema, {
            type: {
              case: "workload",
              value: {
                uid: "dup",
                name: "dup",
                namespace: "d",
                addresses: [new Uint8Array([1, 1, 1, 1]), new Uint8Array([1, 1, 1, 1])],
              },
            },
          }),
        ),
      ],
      ["ok", "v1", workloadAny("ok", [10, 0, 0, 2])],
    ]);
    const reply = await server.request(0, 2);
    assert.match(reply.errorDetail?.message ?? "", /dup.*duplicates/);
    assert.deepEqual([...store.current.workloads.keys()], ["ok"]);
  });

  void it("an undecodable response drops the stream with the cause, keeps the state, and reconnects", async () => {
    const { server, client, store } = await setup();
    await server.request(0, 1);
    server.send(0, TYPE_URL.Address, "n1", [["w1", "v1", workloadAny("w1", [10, 0, 0, 1])]]);
    await server.request(0, 2);
    const reason = new Promise<string>((resolve) => client.once("disconnected", (e) => resolve(e.reason)));
    // Bytes that are no DeltaDiscoveryResponse (a truncated varint), sent as they are.
    server.calls[0]!.call.write(
      new PreEncoded(new Uint8Array([0x0a, 0xff])) as unknown as DeltaDiscoveryResponse,
    );
    assert.match(await reason, /^INTERNAL: cannot decode a DeltaDiscoveryResponse/);
    const again = await server.request(1, 0);
    assert.deepEqual(again.initialResourceVersions, { w1: "v1" });
    assert.equal(store.current.workload("w1")?.addresses[0], "10.0.0.1");
  });

  void it("ACKs a clean response, applies removals, and resumes with initial_resource_versions", async () => {
    const { server, client, store } = await setup();
    await server.request(0, 1);
    server.send(0, TYPE_URL.Address, "n1", [
      ["w1", "v1", workloadAny("w1", [10, 0, 0, 1])],
      ["w2", "v1", workloadAny("w2", [10, 0, 0, 2])],
    ]);
    const ack = await server.request(0, 2);
    assert.equal(ack.responseNonce, "n1");
    assert.equal(ack.errorDetail, undefined);
    server.send(0, TYPE_URL.Address, "n2", [["w2", "v2", workloadAny("w2", [10, 0, 0, 3])]], ["w1"]);
    await server.request(0, 3);
    assert.deepEqual([...store.current.workloads.keys()], ["w2"]);
    assert.deepEqual(store.current.workload("w2")?.addresses, ["10.0.0.3"]);

    // The server drops the stream: the client reconnects and says what it holds.
    const disconnected = new Promise<void>((resolve) => client.once("disconnected", () => resolve()));
    server.calls[0]!.call.emit("error", { code: grpc.status.UNAVAILABLE, details: "restarting" });
    await disconnected;
    const again = await server.request(1, 0);
    assert.equal(again.typeUrl, TYPE_URL.Address);
    assert.deepEqual(again.initialResourceVersions, { w2: "v2" });
    assert.equal(client.stats.connects, 2);
    // The store keeps serving the last state while disconnected.
    assert.deepEqual([...store.current.workloads.keys()], ["w2"]);
  });
});

void describe("DeltaXdsClient reconnect backoff", () => {
  void it("spaces reconnects by the backoff (doubling up to its cap) and starts over after a response", async () => {
    server = new ScriptedServer();
    await server.start();
    const store = new StateStore();
    const arrivals: number[] = [];
    // Every stream the server gets is failed at once, until it is told to answer one.
    let answer = false;
    const seen = new Set<number>();
    const watcher = setInterval(() => {
      server!.calls.forEach((c, i) => {
        if (seen.has(i) || c.requests.length === 0) return;
        seen.add(i);
        arrivals.push(performance.now());
        if (answer) {
          answer = false;
          server!.send(i, TYPE_URL.Address, `n${i}`, [["w1", "v1", workloadAny("w1", [10, 0, 0, 1])]]);
          setTimeout(() => c.call.emit("error", { code: grpc.status.UNAVAILABLE, details: "again" }), 20);
        } else {
          c.call.emit("error", { code: grpc.status.UNAVAILABLE, details: "restarting" });
        }
      });
    }, 1);
    try {
      client = new DeltaXdsClient({
        address: server.address,
        credentials: { kind: "insecure" },
        node: { id: "ztunnel-backoff" },
        handlers: [addressHandler(store)],
        backoff: { baseMs: 40, maxMs: 160, jitter: "none" },
      });
      client.start();
      // Streams 0..5 fail at once: the waits before streams 1..5 are 40, 80, 160, 160, 160 ms.
      await until(() => arrivals.length >= 6, 10_000);
      const gaps = arrivals.slice(1, 6).map((t, i) => t - arrivals[i]!);
      const want = [40, 80, 160, 160, 160];
      gaps.forEach((g, i) =>
        assert.ok(g >= want[i]! - 2, `wait ${i + 1} was ${g.toFixed(1)} ms, want ≥ ${want[i]} ms`),
      );
      assert.ok(gaps[2]! > gaps[0]! * 2, `the waits grow: ${gaps.map((g) => g.toFixed(0)).join(", ")} ms`);
      assert.ok(
        gaps.every((g) => g < 160 + 400),
        `the cap holds: ${gaps.map((g) => g.toFixed(0)).join(", ")} ms`,
      );

      // A stream that gets a response resets the backoff: the next reconnect waits the base again.
      answer = true;
      const answered = arrivals.length;
      await until(() => store.current.workload("w1") !== undefined, 5000);
      await until(() => arrivals.length >= answered + 2, 5000);
      const reset = arrivals[answered + 1]! - arrivals[answered]!;
      // 20 ms until the answered stream fails, then the base wait of 40 ms (not 160 ms).
      assert.ok(
        reset >= 40 + 20 - 2 && reset < 160,
        `after a response the wait is the base again: ${reset} ms`,
      );
      // The last good state kept serving through all of it.
      assert.equal(store.current.workload("w1")?.addresses[0], "10.0.0.1");
    } finally {
      clearInterval(watcher);
    }
  });
});
