// The "Node floor" rows of mesh-l4: the least a Node.js L4 tunnel pair can do on this machine, to
// tell what weft's own code costs from what the runtime costs. No routing, no authorization, no
// metrics, no logs, no pool limits: accept, connect, pipe().
//
//   tls: a stunnel-like pair on node:tls, mutual TLS 1.3 with the stunnel row's certificates, one
//        TLS connection per app connection (what stunnel4 does).
//   h2:  a minimal HBONE: one HTTP/2 session over mutual TLS 1.3 between the pair, an HTTP/2
//        CONNECT stream per app connection, the same windows as weft's HBONE (hbone/settings.ts).
//
// Run as a process in a pod:
//   node relay.js <tls|h2> client <listen host> <server ip> <server port> <cert dir> <app ports...>
//   node relay.js <tls|h2> server <listen port> <cert dir> <app ports...>
// tls server: listens on <listen port> + i for the i-th app port; h2 server: one listener, the
// CONNECT :authority says which app port. Prints "relay ready" once every listener is bound.
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Duplex } from "node:stream";

const MiB = 1024 * 1024;
const H2_SETTINGS: http2.Settings = {
  initialWindowSize: 4 * MiB,
  maxFrameSize: MiB,
  maxConcurrentStreams: 10_000,
  enablePush: false,
};

function credentials(dir: string, side: "client" | "server"): tls.SecureContextOptions {
  return {
    key: readFileSync(join(dir, `${side}.key`)),
    cert: readFileSync(join(dir, `${side}.pem`)),
    ca: readFileSync(join(dir, "ca.pem")),
    minVersion: "TLSv1.3",
  };
}

/** Both ways, ends propagated; a reset on one side destroys the other. */
function pipeBoth(a: Duplex, b: Duplex): void {
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
  a.pipe(b);
  b.pipe(a);
}

function listen(server: net.Server, port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
}

/** The client side of a pair: listens on host:appPort, tunnels to the server side. */
interface ClientSide {
  readonly host: string;
  readonly serverIp: string;
  readonly serverPort: number;
  readonly dir: string;
  readonly appPorts: readonly number[];
}

async function tlsServer(listenPort: number, dir: string, appPorts: number[]): Promise<void> {
  const options = { ...credentials(dir, "server"), requestCert: true, rejectUnauthorized: true };
  for (const [i, appPort] of appPorts.entries()) {
    const server = tls.createServer(options, (s) => pipeBoth(s, net.connect(appPort, "127.0.0.1")));
    await listen(server, listenPort + i);
  }
}

async function tlsClient({ host, serverIp, serverPort, dir, appPorts }: ClientSide): Promise<void> {
  const context = tls.createSecureContext(credentials(dir, "client"));
  for (const [i, appPort] of appPorts.entries()) {
    const server = net.createServer((s) =>
      pipeBoth(
        s,
        tls.connect({
          host: serverIp,
          port: serverPort + i,
          secureContext: context,
          servername: "server.bench",
        }),
      ),
    );
    await listen(server, appPort, host);
  }
}

async function h2Server(listenPort: number, dir: string): Promise<void> {
  const server = http2.createSecureServer({
    ...credentials(dir, "server"),
    requestCert: true,
    rejectUnauthorized: true,
    settings: H2_SETTINGS,
    maxSessionMemory: 256,
  });
  server.on("session", (session) => session.setLocalWindowSize(16 * MiB));
  server.on("stream", (stream, headers) => {
    const port = Number(String(headers[":authority"]).split(":").pop());
    const upstream = net.connect(port, "127.0.0.1", () => {
      stream.respond({ ":status": 200 });
      pipeBoth(stream, upstream);
    });
    upstream.on("error", () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
  });
  await listen(server, listenPort);
}

async function h2Client({ host, serverIp, serverPort, dir, appPorts }: ClientSide): Promise<void> {
  let session: http2.ClientHttp2Session | undefined;
  const sessionFor = (): http2.ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      const s = http2.connect(`https://${serverIp}:${serverPort}`, {
        ...credentials(dir, "client"),
        servername: "server.bench",
        settings: H2_SETTINGS,
        maxSessionMemory: 256,
      });
      s.on("connect", () => s.setLocalWindowSize(16 * MiB));
      s.on("error", () => undefined);
      s.on("close", () => {
        if (session === s) session = undefined;
      });
      session = s;
    }
    return session;
  };
  for (const appPort of appPorts) {
    const server = net.createServer((socket) => {
      const stream = sessionFor().request({ ":method": "CONNECT", ":authority": `127.0.0.1:${appPort}` });
      stream.on("response", () => pipeBoth(socket, stream));
      stream.on("error", () => socket.destroy());
      socket.on("error", () => stream.destroy());
    });
    await listen(server, appPort, host);
  }
}

async function main(argv: string[]): Promise<void> {
  const [mode, side, ...rest] = argv;
  if (side === "server") {
    const [listenPort, dir, ...ports] = rest;
    if (mode === "tls") await tlsServer(Number(listenPort), dir!, ports.map(Number));
    else await h2Server(Number(listenPort), dir!);
  } else {
    const [host, serverIp, serverPort, dir, ...ports] = rest;
    const client = mode === "tls" ? tlsClient : h2Client;
    await client({
      host: host!,
      serverIp: serverIp!,
      serverPort: Number(serverPort),
      dir: dir!,
      appPorts: ports.map(Number),
    });
  }
  console.log("relay ready");
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`relay: ${(err as Error).message}`);
  process.exit(1);
});
