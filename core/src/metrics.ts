// Prometheus metrics on prom-client. Every component gets its own Registry (never prom-client's
// global one) so tests can run several components in one process without metric name clashes.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry, collectDefaultMetrics } from "prom-client";
import { weftError } from "./errors.js";

// Re-exported so packages build metrics from the same prom-client copy as the registry they
// register into, without each depending on prom-client themselves.
export { Counter, Gauge, Histogram, Summary, Registry } from "prom-client";

export interface RegistryOptions {
  /** Labels added to every series of this registry, e.g. `{ node: "node-a" }`. */
  defaultLabels?: Record<string, string>;
  /** Also export the process/Node.js default metrics (CPU, RSS, event-loop lag, GC). */
  collectDefault?: boolean;
}

export function createRegistry(options: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.defaultLabels !== undefined) registry.setDefaultLabels(options.defaultLabels);
  if (options.collectDefault === true) collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsServerOptions {
  host: string;
  /** 0 lets the OS pick a free port (tests); the chosen one is in the result's `port`. */
  port: number;
}

export interface MetricsServer {
  readonly server: Server;
  readonly port: number;
  /** Stops listening and closes open (keep-alive) scrape connections. */
  close(): Promise<void>;
}

/** Serves `GET /metrics` (Prometheus text format) and `GET /healthz` (200 "ok"). */
export async function serveMetrics(
  registry: Registry,
  options: MetricsServerOptions,
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics or /healthz\n");
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType }).end(text);
      },
      (err: unknown) => {
        res
          .writeHead(500, { "content-type": "text/plain" })
          .end(`collecting metrics failed: ${String(err)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        err.code === "EADDRINUSE"
          ? weftError(
              "WEFT_E_PORT_IN_USE",
              `metrics server cannot listen on ${options.host}:${options.port}: address in use`,
              { host: options.host, port: options.port },
              { cause: err },
            )
          : weftError(
              "WEFT_E_UNAVAILABLE",
              `metrics server cannot listen on ${options.host}:${options.port}: ${err.message}`,
              { host: options.host, port: options.port },
              { cause: err, fix: "check the host address and that the process may bind the port" },
            ),
      );
    };
    server.once("error", onError);
    server.listen(options.port, options.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
      }),
  };
}
