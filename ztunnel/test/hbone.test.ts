// HBONE client <-> server over real TLS 1.3 and HTTP/2 on loopback, to a real TCP echo.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { once } from "node:events";
import { connectMeshTls, createMeshSecureContext, createMeshTlsServer } from "../src/tls/index.js";
import {
  hboneConnect,
  resetStream,
  forwardedFor,
  parseAuthority,
  parseForwardedFor,
  HBONE_SESSION_OPTIONS,
} from "../src/hbone/index.js";
import { createTestCa, selfSignedCredentials, spiffe, TD } from "./helpers/pki.js";
import { connectTcp, deferred, listen, patternChunk, readAll, sha256, until, within } from "./helpers/net.js";
import { CLIENT_ID, DENIED_ID, SERVER_ID, hboneWorld, type HboneWorld } from "./helpers/world.js";

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

void describe("HBONE tunnel", () => {
  let w: HboneWorld;
  before(async () => {
    w = await hboneWorld();
  });
  after(async () => {
    await w.close();
  });

  void it("CONNECTs to a TCP echo and carries bytes both ways; the server sees forwarded/baggage/traceparent", async () => {
    const session = await w.session();
    const stream = await hboneConnect(session, {
      authority: w.echoAuthority,
      headers: {
        forwarded: forwardedFor("10.1.2.3"),
        baggage: "k=v",
        traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
      },
    });
    stream.end("hello through the mesh");
    assert.equal((await readAll(stream)).toString(), "hello through the mesh");
    await until(() => w.events.some((e) => e.facts?.originalSource === "10.1.2.3"), 5000, "tunnel event");
    const ev = w.events.find((e) => e.facts?.originalSource === "10.1.2.3");
    assert.equal(ev?.status, 200);
    assert.equal(ev?.facts?.peerUri, CLIENT_ID);
    assert.equal(ev?.facts?.baggage, "k=v");
    assert.match(ev?.facts?.traceparent ?? "", /^00-/);
    assert.equal(ev?.result?.outcome, "closed");
    assert.equal(ev?.result?.fromSocket, "hello through the mesh".length);
    assert.equal(ev?.result?.toSocket, "hello through the mesh".length);
    session.close();
  });

  void it("moves 100 MB through one tunnel with no byte lost, duplicated or reordered", async () => {
    const session = await w.session();
    const stream = await hboneConnect(session, { authority: w.echoAuthority });
    const total = 100 * 1024 * 1024;
    const chunkSize = 256 * 1024;
    const sent = sha256();
    const received = sha256();
    let receivedBytes = 0;
    const reading = (async () => {
      for await (const c of stream) {
        received.update(c as Buffer);
        receivedBytes += (c as Buffer).length;
      }
    })();
    for (let off = 0, i = 1; off < total; off += chunkSize, i++) {
      const chunk = patternChunk(i, Math.min(chunkSize, total - off));
      sent.update(chunk);
      if (!stream.write(chunk)) await once(stream, "drain");
    }
    stream.end();
    await within(reading, 55_000, "the echo of 100 MB");
    assert.equal(receivedBytes, total);
    assert.equal(received.digest("hex"), sent.digest("hex"));
    session.close();
  });

  void it("half-close from the client: upstream sees FIN and can still answer", async () => {
    const gotFin = deferred<net.Socket>();
    const upstream = await listen((s) => {
      const chunks: Buffer[] = [];
      s.on("data", (c: Buffer) => chunks.push(c));
      s.on("end", () => {
        gotFin.resolve(s);
        setTimeout(() => s.end(`got ${Buffer.concat(chunks).toString()} then FIN`), 50);
      });
    });
    try {
      const session = await w.session();
      const stream = await hboneConnect(session, { authority: `127.0.0.1:${upstream.port}` });
      stream.end("question");
      await gotFin.promise;
      assert.equal((await readAll(stream)).toString(), "got question then FIN");
      session.close();
    } finally {
      await upstream.close();
    }
  });

  void it("half-close from the upstream: client sees END_STREAM and can still send", async () => {
    const received = deferred<string>();
    const upstream = await listen((s) => {
      s.end("bye first");
      const chunks: Buffer[] = [];
      s.on("data", (c: Buffer) => chunks.push(c));
      s.on("end", () => received.resolve(Buffer.concat(chunks).toString()));
    });
    try {
      const session = await w.session();
      const stream = await hboneConnect(session, { authority: `127.0.0.1:${upstream.port}` });
      const answer = await readAll(stream);
      assert.equal(answer.toString(), "bye first");
      assert.equal(stream.writable, true, "our direction is still open");
      const closed = once(stream, "close");
      stream.end("late words");
      assert.equal(await received.promise, "late words");
      await closed;
      assert.equal(stream.rstCode, NGHTTP2_NO_ERROR);
      session.close();
    } finally {
      await upstream.close();
    }
  });

  void it("client RST_STREAM resets the upstream TCP connection", async () => {
    const upstreamError = deferred<string>();
    const upstream = await listen((s) => {
      s.on("error", (e: NodeJS.ErrnoException) => upstreamError.resolve(e.code ?? e.message));
      s.on("end", () => upstreamError.resolve("FIN"));
    });
    try {
      const session = await w.session();
      const stream = await hboneConnect(session, { authority: `127.0.0.1:${upstream.port}` });
      // Closing with an error code makes the local stream emit that error.
      stream.on("error", () => {});
      stream.write("partial");
      await until(() => upstream.sockets.size === 1, 5000, "upstream accept");
      resetStream(stream);
      assert.equal(await within(upstreamError.promise, 5000, "upstream reset"), "ECONNRESET");
      session.close();
    } finally {
      await upstream.close();
    }
  });

  void it("upstream TCP RST resets the client's stream with CONNECT_ERROR", async () => {
    const upstream = await listen((s) => {
      s.once("data", () => s.resetAndDestroy());
    });
    try {
      const session = await w.session();
      const stream = await hboneConnect(session, { authority: `127.0.0.1:${upstream.port}` });
      stream.on("error", () => {});
      // Not events.once: it rejects on the 'error' a reset stream emits before 'close'.
      const closed = new Promise<void>((resolve) => stream.once("close", resolve));
      stream.write("trigger");
      await within(closed, 5000, "stream close");
      assert.equal(stream.rstCode, NGHTTP2_CONNECT_ERROR);
      session.close();
    } finally {
      await upstream.close();
    }
  });

  void it("answers 405/400/401/503 for bad requests while a parallel good stream on the same session continues", async () => {
    const session = await w.session();
    const good = await hboneConnect(session, { authority: w.echoAuthority });
    const echoed: Buffer[] = [];
    good.on("data", (c: Buffer) => echoed.push(c));
    good.write("before;");

    const status = (headers: http2.OutgoingHttpHeaders): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = session.request(headers, { endStream: false });
        req.on("error", reject);
        req.on("response", (h) => {
          resolve(Number(h[":status"]));
          req.close();
        });
      });
    assert.equal(
      await status({ ":method": "GET", ":path": "/", ":scheme": "https", ":authority": w.echoAuthority }),
      405,
    );
    assert.equal(await status({ ":method": "CONNECT", ":authority": "not-an-ip:80" }), 400);
    assert.equal(await status({ ":method": "CONNECT", ":authority": "127.0.0.1:99999" }), 400);
    assert.equal(await status({ ":method": "CONNECT", ":authority": "10.9.9.9:80" }), 400);
    const closedPort = await listen(() => {});
    const deadPort = closedPort.port;
    await closedPort.close();
    assert.equal(await status({ ":method": "CONNECT", ":authority": `127.0.0.1:${deadPort}` }), 503);
    await assert.rejects(
      hboneConnect(session, { authority: `127.0.0.1:${deadPort}` }),
      (e: Error & { code?: string }) => e.code === "WEFT_E_UNAVAILABLE",
    );

    good.end("after");
    await within(once(good, "end"), 5000, "good stream end");
    assert.equal(Buffer.concat(echoed).toString(), "before;after");
    assert.ok(w.events.some((e) => e.status === 405));
    session.close();
  });

  void it("answers 401 when authorization denies the client identity", async () => {
    const denied = createMeshSecureContext(await w.ca.credentials(DENIED_ID));
    const session = await w.session({ context: denied });
    await assert.rejects(
      hboneConnect(session, { authority: w.echoAuthority }),
      (e: Error & { code?: string; details?: { status?: number } }) =>
        e.code === "WEFT_E_DENIED" && e.details?.status === 401,
    );
    session.close();
  });

  void it("closes connections that send garbage or oversized headers; the server stays up and others continue", async () => {
    const session = await w.session();
    const good = await hboneConnect(session, { authority: w.echoAuthority });
    const echoed: Buffer[] = [];
    good.on("data", (c: Buffer) => echoed.push(c));
    good.write("a;");

    // Garbage instead of a TLS ClientHello.
    const raw = await connectTcp(w.port);
    raw.on("error", () => {});
    raw.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe garbage"));
    // The server closes its side (raw is half-open, so it would not close by itself).
    await within(once(raw, "end"), 5000, "garbage connection closed by the server");
    raw.destroy();

    // Valid mTLS, then bytes that are not HTTP/2.
    const t = await connectMeshTls({
      host: "127.0.0.1",
      port: w.port,
      secureContext: w.clientContext,
      expectedIdentities: [SERVER_ID],
    });
    t.on("error", () => {});
    t.resume(); // read the server's SETTINGS/GOAWAY so 'end' and 'close' can happen
    t.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff garbage frames");
    await within(once(t, "close"), 5000, "garbage-after-TLS connection closed");

    // A header list far above maxHeaderListSize.
    const t2 = await connectMeshTls({
      host: "127.0.0.1",
      port: w.port,
      secureContext: w.clientContext,
      expectedIdentities: [SERVER_ID],
    });
    const big = http2.connect(`https://127.0.0.1:${w.port}`, {
      ...HBONE_SESSION_OPTIONS,
      maxSendHeaderBlockLength: 1 << 20,
      createConnection: () => t2,
    });
    big.on("error", () => {});
    const req = big.request({
      ":method": "CONNECT",
      ":authority": w.echoAuthority,
      "x-big": "x".repeat(200_000),
    });
    req.on("error", () => {});
    const outcome = await within(
      new Promise<string>((resolve) => {
        req.on("response", (h) => resolve(`status ${String(h[":status"])}`));
        req.on("close", () => resolve(`closed ${req.rstCode}`));
      }),
      5000,
      "oversized request outcome",
    );
    assert.doesNotMatch(outcome, /status 200/);
    big.destroy();

    // The server still serves new connections, and the first stream was never disturbed.
    const again = await w.session();
    const s2 = await hboneConnect(again, { authority: w.echoAuthority });
    s2.end("still up");
    assert.equal((await readAll(s2)).toString(), "still up");
    good.end("b");
    await within(once(good, "end"), 5000, "good stream end");
    assert.equal(Buffer.concat(echoed).toString(), "a;b");
    again.close();
    session.close();
  });
});

void describe("HBONE mTLS identity checks", () => {
  let w: HboneWorld;
  before(async () => {
    w = await hboneWorld();
  });
  after(async () => {
    await w.close();
  });

  async function refusedByServer(context: tls.SecureContext): Promise<void> {
    const before = w.hbone.stats.handshakeFailures;
    const attempt = (async () => {
      const session = await w.session({ context });
      try {
        await hboneConnect(session, { authority: w.echoAuthority });
      } finally {
        session.destroy();
      }
    })();
    await assert.rejects(within(attempt, 5000, "refusal"));
    await until(() => w.hbone.stats.handshakeFailures === before + 1, 5000, "server-side refusal");
  }

  void it("the client refuses a server presenting another identity", async () => {
    await assert.rejects(
      w.session({ expected: [spiffe("shop", "payments")] }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "WEFT_E_TLS");
        assert.match(e.message, /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart is not one of the expected/);
        return true;
      },
    );
  });

  void it("the client accepts any of several expected identities", async () => {
    const s = await w.session({ expected: [spiffe("shop", "payments"), SERVER_ID] });
    s.destroy();
  });

  void it("the server refuses a client from another trust domain (same root)", async () => {
    await refusedByServer(
      createMeshSecureContext(await w.ca.credentials(spiffe("shop", "web", "other.domain"))),
    );
  });

  void it("the server refuses a client certificate from another root", async () => {
    const other = await createTestCa("other root");
    const creds = await other.credentials(CLIENT_ID);
    // The client still trusts our root, so only the server's check can refuse.
    await refusedByServer(createMeshSecureContext({ ...creds, trustBundlePem: w.ca.rootPem }));
  });

  void it("the server refuses an expired client certificate", async () => {
    const now = Date.now();
    const creds = await w.ca.credentials({
      uris: [CLIENT_ID],
      notBefore: new Date(now - 7200_000),
      notAfter: new Date(now - 3600_000),
    });
    await refusedByServer(createMeshSecureContext(creds));
  });

  void it("the server refuses a self-signed certificate forging a mesh SAN", async () => {
    await refusedByServer(createMeshSecureContext(await selfSignedCredentials(CLIENT_ID, w.ca.rootPem)));
  });

  void it("the server refuses a certificate with two URI SANs or a non-SPIFFE URI", async () => {
    await refusedByServer(
      createMeshSecureContext(await w.ca.credentials({ uris: [CLIENT_ID, spiffe("kube-system", "admin")] })),
    );
    await refusedByServer(
      createMeshSecureContext(await w.ca.credentials({ uris: ["https://example.com/web"] })),
    );
  });

  void it("negotiates TLS 1.3 with ALPN h2, sends no SNI and never resumes a session", async () => {
    const servernames: (string | false | null)[] = [];
    const tlsServer = createMeshTlsServer(w.server.credentials);
    tlsServer.on("secureConnection", (t: tls.TLSSocket) => {
      servernames.push(t.servername);
      t.end();
    });
    tlsServer.on("tlsClientError", () => {});
    const probe = net.createServer((raw) => tlsServer.emit("connection", raw));
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as net.AddressInfo).port;
    try {
      const first = await connectMeshTls({
        host: "127.0.0.1",
        port,
        secureContext: w.clientContext,
        expectedIdentities: [SERVER_ID],
      });
      assert.equal(first.getProtocol(), "TLSv1.3");
      assert.equal(first.alpnProtocol, "h2");
      const tickets: Buffer[] = [];
      first.on("session", (s: Buffer) => tickets.push(s));
      first.on("error", () => {});
      await once(first, "close");
      // Even when a client offers a ticket from a previous connection, the server cannot redeem it.
      const offered = tickets[0];
      if (offered !== undefined) {
        const second = tls.connect({
          host: "127.0.0.1",
          port,
          secureContext: w.clientContext,
          ALPNProtocols: ["h2"],
          servername: "",
          session: offered,
          checkServerIdentity: () => undefined,
        });
        second.on("error", () => {});
        await once(second, "secureConnect");
        assert.equal(second.isSessionReused(), false);
        second.destroy();
      }
      assert.deepEqual(servernames.slice(0, 1), [false]);
    } finally {
      probe.close();
    }
  });

  void it("refuses TLS 1.2 clients", async () => {
    const creds = await w.ca.credentials(CLIENT_ID);
    const t = tls.connect({
      host: "127.0.0.1",
      port: w.port,
      key: creds.keyPem,
      cert: creds.certChainPem as string,
      ca: w.ca.rootPem,
      maxVersion: "TLSv1.2",
      ALPNProtocols: ["h2"],
      checkServerIdentity: () => undefined,
    });
    const [err] = (await once(t, "error")) as [Error];
    assert.match(err.message, /version|protocol|alert/i);
  });
});

void describe("HBONE header helpers", () => {
  void it("parses authorities", () => {
    const table: [string | undefined, ReturnType<typeof parseAuthority>][] = [
      ["10.0.0.1:80", { ip: "10.0.0.1", port: 80 }],
      ["[2001:DB8::1]:8080", { ip: "2001:db8::1", port: 8080 }],
      ["[::ffff:10.0.0.1]:80", { ip: "10.0.0.1", port: 80 }],
      ["2001:db8::1:80", undefined],
      ["example.com:80", undefined],
      ["10.0.0.1", undefined],
      ["10.0.0.1:0", undefined],
      ["10.0.0.1:65536", undefined],
      ["10.0.0.1:+80", undefined],
      ["[10.0.0.1]:80", undefined],
      ["", undefined],
      [undefined, undefined],
    ];
    for (const [input, want] of table) assert.deepEqual(parseAuthority(input), want, String(input));
  });

  void it("builds and parses Forwarded for=", () => {
    assert.equal(forwardedFor("10.0.0.1"), "for=10.0.0.1");
    assert.equal(forwardedFor("2001:db8::1"), 'for="[2001:db8::1]"');
    const table: [string | undefined, string | undefined][] = [
      ["for=10.0.0.1", "10.0.0.1"],
      ['for="[2001:db8::1]"', "2001:db8::1"],
      ['For="[2001:db8::1]:443"', "2001:db8::1"],
      ["for=10.0.0.1:5555;proto=https", "10.0.0.1"],
      ["proto=https;for=10.0.0.2, for=10.0.0.3", "10.0.0.2"],
      ["for=_hidden", undefined],
      ["by=10.0.0.1", undefined],
      [undefined, undefined],
    ];
    for (const [input, want] of table) assert.equal(parseForwardedFor(input), want, String(input));
  });
});

void describe("trust domain constant", () => {
  void it("tests run in the default trust domain", () => assert.equal(TD, "cluster.local"));
});
