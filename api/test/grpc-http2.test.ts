// The lean gRPC stream client (grpc-http2.ts): its framing as pure logic, then real calls over
// loopback against grpc-js's server (interop) and against raw HTTP/2 servers that misbehave.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import fc from "fast-check";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AdsService,
  CREATE_CERTIFICATE_PATH,
  CaService,
  DELTA_ADS_PATH,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  GrpcCallError,
  GrpcDeframer,
  GrpcHttp2Client,
  GrpcStatus,
  frameGrpcMessage,
  IstioCertificateRequestSchema,
  IstioCertificateResponseSchema,
  grpcCodeForHttpStatus,
  grpcStatusName,
  type AdsHandlers,
  type CaHandlers,
  type DeltaDiscoveryRequest,
  type GrpcCallStatus,
} from "@weft/api";

function deframeAll(chunks: Buffer[], max = 1 << 20): Buffer[] {
  const d = new GrpcDeframer(max);
  const out: Buffer[] = [];
  for (const c of chunks) d.push(c, (m) => out.push(Buffer.from(m)));
  return out;
}

void describe("GrpcDeframer", () => {
  const a = Buffer.from("first message");
  const b = Buffer.from("second");
  const both = Buffer.concat([frameGrpcMessage(a), frameGrpcMessage(b)]);
  const cases: { name: string; chunks: Buffer[]; want: Buffer[] }[] = [
    { name: "one message per chunk", chunks: [frameGrpcMessage(a), frameGrpcMessage(b)], want: [a, b] },
    { name: "two messages in one chunk", chunks: [both], want: [a, b] },
    { name: "header split across chunks", chunks: [both.subarray(0, 2), both.subarray(2)], want: [a, b] },
    {
      name: "body split across three chunks",
      chunks: [both.subarray(0, 7), both.subarray(7, 12), both.subarray(12)],
      want: [a, b],
    },
    { name: "one byte at a time", chunks: [...both].map((x) => Buffer.from([x])), want: [a, b] },
    { name: "an empty message", chunks: [frameGrpcMessage(new Uint8Array(0))], want: [Buffer.alloc(0)] },
    { name: "an incomplete message is held back", chunks: [both.subarray(0, both.length - 1)], want: [a] },
  ];
  for (const c of cases) {
    void it(c.name, () => assert.deepEqual(deframeAll(c.chunks), c.want));
  }

  void it("any chunking of any messages yields the same messages (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (messages, cuts) => {
          const wire = Buffer.concat(messages.map((m) => frameGrpcMessage(m)));
          const chunks: Buffer[] = [];
          let at = 0;
          for (let i = 0; at < wire.length; i++) {
            const size = cuts[i % cuts.length]!;
            chunks.push(wire.subarray(at, at + size));
            at += size;
          }
          assert.deepEqual(
            deframeAll(chunks),
            messages.map((m) => Buffer.from(m)),
          );
        },
      ),
    );
  });

  void it("a compressed message is refused with INTERNAL, naming why", () => {
    const frame = frameGrpcMessage(a);
    frame[0] = 1;
    assert.throws(
      () => deframeAll([frame]),
      (e: unknown) =>
        e instanceof GrpcCallError &&
        e.code === (GrpcStatus.INTERNAL as number) &&
        /compress/.test(e.details),
    );
  });

  void it("a message over the limit is refused with RESOURCE_EXHAUSTED before it is buffered", () => {
    const header = frameGrpcMessage(Buffer.alloc(100)).subarray(0, 5);
    assert.throws(
      () => deframeAll([header], 99),
      (e: unknown) =>
        e instanceof GrpcCallError &&
        e.code === (GrpcStatus.RESOURCE_EXHAUSTED as number) &&
        /100-byte message.*99-byte limit/.test(e.details),
    );
  });

  void it("maps HTTP statuses as gRPC's http-grpc-status-mapping says", () => {
    const table: [number, number][] = [
      [400, GrpcStatus.INTERNAL],
      [401, GrpcStatus.UNAUTHENTICATED],
      [403, GrpcStatus.PERMISSION_DENIED],
      [404, GrpcStatus.UNIMPLEMENTED],
      [429, GrpcStatus.UNAVAILABLE],
      [502, GrpcStatus.UNAVAILABLE],
      [503, GrpcStatus.UNAVAILABLE],
      [504, GrpcStatus.UNAVAILABLE],
      [500, GrpcStatus.UNKNOWN],
    ];
    for (const [http, code] of table) assert.equal(grpcCodeForHttpStatus(http), code, `HTTP ${http}`);
  });
});

/** Opens a call and collects what it delivers until it ends. */
function call(
  client: GrpcHttp2Client,
  metadata: Record<string, string> = {},
  path = DELTA_ADS_PATH,
): {
  stream: ReturnType<GrpcHttp2Client["openBidi"]>;
  messages: Buffer[];
  ended: Promise<GrpcCallStatus>;
} {
  const messages: Buffer[] = [];
  let resolve!: (s: GrpcCallStatus) => void;
  const ended = new Promise<GrpcCallStatus>((r) => (resolve = r));
  let ends = 0;
  const stream = client.openBidi(path, metadata, {
    onMessage: (m) => messages.push(Buffer.from(m)),
    onEnd: (s) => {
      ends++;
      assert.equal(ends, 1, "onEnd is called exactly once");
      resolve(s);
    },
  });
  return { stream, messages, ended };
}

const insecure = (address: string, extra: Partial<ConstructorParameters<typeof GrpcHttp2Client>[0]> = {}) =>
  new GrpcHttp2Client({
    address,
    credentials: { kind: "insecure" },
    maxReceiveMessageBytes: 1 << 20,
    ...extra,
  });

void describe("GrpcHttp2Client against grpc-js's server", () => {
  const server = new grpc.Server();
  let address = "";
  const seen: { authorization?: string; requests: DeltaDiscoveryRequest[]; cancelled: boolean }[] = [];

  before(async () => {
    const ads: AdsHandlers = {
      deltaAggregatedResources(c) {
        const entry = {
          authorization: c.metadata.get("authorization")[0] as string | undefined,
          requests: [] as DeltaDiscoveryRequest[],
          cancelled: false,
        };
        seen.push(entry);
        c.on("cancelled", () => (entry.cancelled = true));
        c.on("error", () => undefined);
        if (entry.authorization === undefined) {
          // Before any message: grpc-js answers trailers-only.
          c.emit("error", { code: grpc.status.UNAUTHENTICATED, details: "no token: send authorization" });
          return;
        }
        c.on("data", (req: DeltaDiscoveryRequest) => {
          entry.requests.push(req);
          if (req.typeUrl === "end-please") {
            c.emit("error", { code: grpc.status.UNAVAILABLE, details: "restarting, try again" });
            return;
          }
          // Echo the type URL back as the nonce, three times, in one burst.
          for (let i = 0; i < 3; i++) {
            c.write(
              create(DeltaDiscoveryResponseSchema, { typeUrl: req.typeUrl, nonce: `${req.typeUrl}-${i}` }),
            );
          }
        });
      },
    };
    server.addService(AdsService, ads);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  after(() => server.forceShutdown());

  const request = (typeUrl: string): Uint8Array =>
    toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { typeUrl }));

  void it("carries messages both ways and metadata to the server, and a status back", async () => {
    const client = insecure(address);
    try {
      const c = call(client, { authorization: "Bearer abc" });
      c.stream.write(request("t1"));
      c.stream.write(request("t2"));
      while (c.messages.length < 6) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(
        c.messages.map((m) => fromBinary(DeltaDiscoveryResponseSchema, m).nonce),
        ["t1-0", "t1-1", "t1-2", "t2-0", "t2-1", "t2-2"],
      );
      const entry = seen.at(-1)!;
      assert.equal(entry.authorization, "Bearer abc");
      assert.deepEqual(
        entry.requests.map((r) => r.typeUrl),
        ["t1", "t2"],
      );
      c.stream.write(request("end-please"));
      assert.deepEqual(await c.ended, { code: GrpcStatus.UNAVAILABLE, details: "restarting, try again" });
    } finally {
      client.close();
    }
  });

  void it("a trailers-only refusal ends the call with its code and message", async () => {
    const client = insecure(address);
    try {
      const c = call(client);
      assert.deepEqual(await c.ended, {
        code: GrpcStatus.UNAUTHENTICATED,
        details: "no token: send authorization",
      });
    } finally {
      client.close();
    }
  });

  void it("an unknown method ends UNIMPLEMENTED", async () => {
    const client = insecure(address);
    try {
      const c = call(client, { authorization: "Bearer abc" }, "/no.Such/Method");
      assert.equal((await c.ended).code, GrpcStatus.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });

  void it("cancel() ends the call CANCELLED here and is seen as a cancellation by the server", async () => {
    const client = insecure(address);
    try {
      const c = call(client, { authorization: "Bearer abc" });
      c.stream.write(request("t1"));
      while (c.messages.length < 3) await new Promise((r) => setTimeout(r, 5));
      const entry = seen.at(-1)!;
      c.stream.cancel();
      assert.equal((await c.ended).code, GrpcStatus.CANCELLED);
      while (!entry.cancelled) await new Promise((r) => setTimeout(r, 5));
      // Writing after the end is a no-op, not a crash.
      c.stream.write(request("late"));
    } finally {
      client.close();
    }
  });

  void it("two calls in a row reuse one connection", async () => {
    const client = insecure(address);
    let connections = 0;
    const counter = (): void => void connections++;
    // grpc-js exposes no connection hook; count the TCP accepts of a forwarding proxy instead.
    const proxy = net.createServer((down) => {
      counter();
      const up = net.connect(Number(address.split(":")[1]), "127.0.0.1");
      down.pipe(up).pipe(down);
      down.on("error", () => up.destroy());
      up.on("error", () => down.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const via = insecure(`127.0.0.1:${(proxy.address() as net.AddressInfo).port}`);
    try {
      for (let i = 0; i < 2; i++) {
        const c = call(via, { authorization: "Bearer abc" });
        c.stream.write(request("t1"));
        while (c.messages.length < 3) await new Promise((r) => setTimeout(r, 5));
        c.stream.cancel();
        await c.ended;
      }
      assert.equal(connections, 1);
    } finally {
      via.close();
      client.close();
      proxy.close();
    }
  });
});

void describe("GrpcHttp2Client against servers that misbehave", () => {
  let server: http2.Http2Server;
  let address = "";
  let behaviour: (stream: http2.ServerHttp2Stream) => void = () => {};

  before(async () => {
    server = http2.createServer();
    server.on("stream", (stream) => {
      stream.on("error", () => undefined);
      behaviour(stream);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => server.close());

  const cases: {
    name: string;
    behaviour: (stream: http2.ServerHttp2Stream) => void;
    code: number;
    details: RegExp;
  }[] = [
    {
      name: "HTTP 503 from a proxy in the way",
      behaviour: (s) => s.respond({ ":status": 503 }, { endStream: true }),
      code: GrpcStatus.UNAVAILABLE,
      details: /HTTP 503/,
    },
    {
      name: "a web page instead of gRPC",
      behaviour: (s) => s.respond({ ":status": 200, "content-type": "text/html" }, { endStream: true }),
      code: GrpcStatus.UNKNOWN,
      details: /content-type "text\/html"/,
    },
    {
      name: "a refused stream",
      behaviour: (s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM),
      code: GrpcStatus.UNAVAILABLE,
      details: /reset the stream/,
    },
    {
      name: "a compressed message that was never negotiated",
      behaviour: (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" });
        const frame = frameGrpcMessage(Buffer.from("zz"));
        frame[0] = 1;
        s.write(frame);
      },
      code: GrpcStatus.INTERNAL,
      details: /compressed/,
    },
    {
      name: "an end without trailers",
      behaviour: (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" });
        s.end();
      },
      code: GrpcStatus.UNKNOWN,
      details: /without a grpc-status/,
    },
    {
      name: "a percent-encoded grpc-message",
      behaviour: (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        s.on("wantTrailers", () =>
          s.sendTrailers({ "grpc-status": "9", "grpc-message": "not%20ready%3A%20wait" }),
        );
        s.end();
      },
      code: GrpcStatus.FAILED_PRECONDITION,
      details: /^not ready: wait$/,
    },
  ];
  for (const c of cases) {
    void it(`${c.name} ends the call ${grpcStatusName(c.code)}`, async () => {
      behaviour = c.behaviour;
      const client = insecure(address);
      try {
        const status = await call(client).ended;
        assert.equal(status.code, c.code, status.details);
        assert.match(status.details, c.details);
      } finally {
        client.close();
      }
    });
  }

  void it("a refused connection ends the call UNAVAILABLE, naming the address", async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const client = insecure(`127.0.0.1:${port}`);
    try {
      const status = await call(client).ended;
      assert.equal(status.code, GrpcStatus.UNAVAILABLE);
      assert.match(status.details, new RegExp(`ECONNREFUSED 127.0.0.1:${port}`));
    } finally {
      client.close();
    }
  });

  void it("a server that stops answering PINGs is dropped by the keepalive", async () => {
    // Accepts TCP and then says nothing at all: no SETTINGS, no PING ACK.
    const mute = net.createServer((s) => s.on("error", () => undefined));
    await new Promise<void>((r) => mute.listen(0, "127.0.0.1", r));
    const client = insecure(`127.0.0.1:${(mute.address() as net.AddressInfo).port}`, {
      keepalive: { intervalMs: 50, timeoutMs: 50 },
    });
    try {
      const status = await call(client).ended;
      assert.equal(status.code, GrpcStatus.UNAVAILABLE);
      assert.match(status.details, /keepalive PING within 50 ms/);
    } finally {
      client.close();
      mute.close();
    }
  });

  void it("a closed client ends new calls CANCELLED without connecting", async () => {
    const client = insecure(address);
    client.close();
    assert.equal((await call(client).ended).code, GrpcStatus.CANCELLED);
  });
});

void describe("GrpcStatus", () => {
  void it("is gRPC's code table, the same as grpc-js's", () => {
    const theirs = Object.entries(grpc.status).filter(([, v]) => typeof v === "number");
    assert.deepEqual(Object.entries(GrpcStatus), theirs);
    assert.equal(grpcStatusName(GrpcStatus.UNAVAILABLE), "UNAVAILABLE");
    assert.equal(grpcStatusName(99), "99");
  });
});

void describe("GrpcHttp2Client.unary against grpc-js's server", () => {
  const server = new grpc.Server();
  let address = "";
  const seen: { authorization?: string; timeout?: string; csr: string }[] = [];

  before(async () => {
    const ca: CaHandlers = {
      createCertificate(c, callback) {
        seen.push({
          authorization: c.metadata.get("authorization")[0] as string | undefined,
          timeout: c.getDeadline() === Infinity ? undefined : "set",
          csr: c.request.csr,
        });
        if (c.request.csr === "refuse") {
          callback({ code: grpc.status.PERMISSION_DENIED, details: "not on this node" });
        } else if (c.request.csr === "hang") {
          // Never answers: the caller's deadline ends the call.
        } else {
          callback(
            null,
            create(IstioCertificateResponseSchema, { certChain: [`leaf for ${c.request.csr}`, "root"] }),
          );
        }
      },
    };
    server.addService(CaService, ca);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  after(() => server.forceShutdown());

  const csr = (text: string): Uint8Array =>
    toBinary(IstioCertificateRequestSchema, create(IstioCertificateRequestSchema, { csr: text }));

  void it("sends one request with metadata and a deadline, and resolves with the one answer", async () => {
    const client = insecure(address);
    try {
      const bytes = await client.unary(CREATE_CERTIFICATE_PATH, { authorization: "Bearer t" }, csr("web"), {
        timeoutMs: 5000,
      });
      assert.deepEqual(fromBinary(IstioCertificateResponseSchema, bytes).certChain, ["leaf for web", "root"]);
      assert.deepEqual(seen.at(-1), { authorization: "Bearer t", timeout: "set", csr: "web" });
    } finally {
      client.close();
    }
  });

  void it("rejects with the server's status, and with DEADLINE_EXCEEDED when no answer comes in time", async () => {
    const client = insecure(address);
    try {
      await assert.rejects(
        client.unary(CREATE_CERTIFICATE_PATH, {}, csr("refuse")),
        (e: unknown) =>
          e instanceof GrpcCallError &&
          e.code === GrpcStatus.PERMISSION_DENIED &&
          e.details === "not on this node",
      );
      await assert.rejects(
        client.unary(CREATE_CERTIFICATE_PATH, {}, csr("hang"), { timeoutMs: 200 }),
        (e: unknown) => e instanceof GrpcCallError && e.code === GrpcStatus.DEADLINE_EXCEEDED,
      );
      // The connection is still good for the next call.
      const bytes = await client.unary(CREATE_CERTIFICATE_PATH, {}, csr("again"));
      assert.equal(fromBinary(IstioCertificateResponseSchema, bytes).certChain[0], "leaf for again");
    } finally {
      client.close();
    }
  });

  void it("an OK status with no message is INTERNAL, not an empty answer", async () => {
    // A raw HTTP/2 server that answers a unary call with headers and OK trailers only.
    const raw = http2.createServer();
    raw.on("stream", (s) => {
      s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
      s.resume();
      s.on("end", () => s.end());
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    const client = insecure(`127.0.0.1:${(raw.address() as net.AddressInfo).port}`);
    try {
      await assert.rejects(
        client.unary(CREATE_CERTIFICATE_PATH, {}, csr("web")),
        (e: unknown) =>
          e instanceof GrpcCallError && e.code === GrpcStatus.INTERNAL && /no message/.test(e.details),
      );
    } finally {
      client.close();
      raw.close();
    }
  });
});
