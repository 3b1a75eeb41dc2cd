// The admin HTTP listener (:15014): /metrics for Prometheus, /ready for the kubelet, and
// /debug/config_dump with the resources served and every client's view, for operators and the CLI.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { weftError, type Registry } from "@weft/core";

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** Ready to serve: config loaded and listeners up (and not draining). */
  readonly ready: () => boolean;
  /** The JSON /debug/config_dump returns. */
  readonly configDump: () => unknown;
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" }).end(body);
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    switch (path) {
      case "/metrics":
        opts.registry.metrics().then(
          (text) => send(res, 200, opts.registry.contentType, text),
          (err: unknown) => send(res, 500, "text/plain", `collecting metrics failed: ${String(err)}\n`),
        );
        return;
      case "/ready":
      case "/healthz/ready":
        if (opts.ready()) send(res, 200, "text/plain", "ready\n");
        else send(res, 503, "text/plain", "not ready: config not loaded yet, or shutting down\n");
        return;
      case "/debug/config_dump":
        try {
          send(res, 200, "application/json", JSON.stringify(opts.configDump(), null, 2) + "\n");
        } catch (err) {
          send(res, 500, "text/plain", `config dump failed: ${String(err)}\n`);
        }
        return;
      default:
        send(res, 404, "text/plain", "not found: try /metrics, /ready or /debug/config_dump\n");
    }
  };
  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        weftError(
          err.code === "EADDRINUSE" ? "WEFT_E_PORT_IN_USE" : "WEFT_E_UNAVAILABLE",
          `admin server cannot listen on ${opts.host}:${opts.port}: ${err.message}`,
          { host: opts.host, port: opts.port },
          { cause: err },
        ),
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
