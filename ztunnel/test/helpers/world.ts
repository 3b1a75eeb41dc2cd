// One HBONE server in front of a TCP echo on loopback, with a client identity to reach it.
import type http2 from "node:http2";
import net from "node:net";
import { once } from "node:events";
import type tls from "node:tls";
import { createLogger } from "@weft/core";
import {
  connectHboneSession,
  createHboneServer,
  formatAuthority,
  type HboneServer,
  type HboneServerOptions,
  type InboundTunnelEvent,
} from "../../src/hbone/index.js";
import { createMeshTlsContext, type MeshTlsContext } from "../../src/tls/index.js";
import { createTestCa, spiffe, TD, type TestCa } from "./pki.js";
import { echoServer, type TestServer } from "./net.js";

export const SERVER_ID = spiffe("shop", "cart");
export const CLIENT_ID = spiffe("shop", "web");
export const DENIED_ID = spiffe("shop", "denied");

export interface HboneWorld {
  readonly ca: TestCa;
  readonly server: MeshTlsContext;
  readonly serverContext: tls.SecureContext;
  readonly clientContext: tls.SecureContext;
  readonly echo: TestServer;
  /** `127.0.0.1:<echo port>`: an authority the server accepts. */
  readonly echoAuthority: string;
  readonly hbone: HboneServer;
  readonly listener: net.Server;
  readonly port: number;
  readonly events: InboundTunnelEvent[];
  readonly upstreams: Set<net.Socket>;
  /** A session as CLIENT_ID (or `context`) expecting SERVER_ID (or `expected`). */
  session(opts?: {
    context?: tls.SecureContext;
    expected?: readonly string[];
  }): Promise<http2.ClientHttp2Session>;
  close(): Promise<void>;
}

export const quietLogger = createLogger({ name: "test", level: "silent" });

export async function hboneWorld(overrides: Partial<HboneServerOptions> = {}): Promise<HboneWorld> {
  const ca = await createTestCa();
  const server = createMeshTlsContext(await ca.credentials(SERVER_ID));
  const serverContext = server.clientContext;
  const clientContext = createMeshTlsContext(await ca.credentials(CLIENT_ID)).clientContext;
  const echo = await echoServer();
  const events: InboundTunnelEvent[] = [];
  const upstreams = new Set<net.Socket>();
  const hbone = createHboneServer({
    trustDomain: TD,
    contextFor: () => server,
    checkAuthority: (f) =>
      f.target.ip === "127.0.0.1"
        ? { allow: true }
        : { allow: false, reason: `${f.target.ip} is not this pod` },
    authorize: (f) =>
      f.peerUri === DENIED_ID ? { allow: false, reason: "policy deny-denied" } : { allow: true },
    connectUpstream: async (target) => {
      const s = net.connect({ host: target.ip, port: target.port, allowHalfOpen: true });
      upstreams.add(s);
      s.once("close", () => upstreams.delete(s));
      await once(s, "connect");
      return s;
    },
    onTunnel: (e) => events.push(e),
    logger: quietLogger,
    ...overrides,
  });
  const listener = net.createServer({ allowHalfOpen: true });
  hbone.attach(listener);
  listener.listen(0, "127.0.0.1");
  await once(listener, "listening");
  const port = (listener.address() as net.AddressInfo).port;
  const sessions = new Set<http2.ClientHttp2Session>();
  return {
    ca,
    server,
    serverContext,
    clientContext,
    echo,
    echoAuthority: formatAuthority("127.0.0.1", echo.port),
    hbone,
    listener,
    port,
    events,
    upstreams,
    async session(opts = {}) {
      const s = await connectHboneSession({
        host: "127.0.0.1",
        port,
        secureContext: opts.context ?? clientContext,
        expectedIdentities: opts.expected ?? [SERVER_ID],
      });
      sessions.add(s);
      s.once("close", () => sessions.delete(s));
      return s;
    },
    async close() {
      for (const s of sessions) s.destroy();
      hbone.close(true);
      for (const u of upstreams) u.destroy();
      await echo.close();
      if (listener.listening) await new Promise<void>((r) => listener.close(() => r()));
    },
  };
}
