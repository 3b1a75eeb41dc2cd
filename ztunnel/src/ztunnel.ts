// The ztunnel process as a function (DESIGN §7): node agent (redirection + enrol API) and L4 tunnel
// in one process. xDS fills the store; the identity source supplies each pod's certificate; the
// outbound and inbound proxies serve the in-pod listeners; metrics, readiness and admin listen in
// the node netns. `startZtunnel` is what main.ts runs and what tests embed.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { memoryReport, serveMetrics, weftError, type Logger, type MetricsServer } from "@weft/core";
import {
  DeltaXdsClient,
  StateStore,
  addressHandler,
  authorizationHandler,
  emptySnapshot,
  workloadPrincipal,
} from "@weft/state";
import { startAgent, type Agent } from "./agent/agent.js";
import type { DnsProxyConfig, ZtunnelConfig } from "./config.js";
import { DnsProxy } from "./dns/index.js";
import { connectHboneSession } from "./hbone/index.js";
import { ZtunnelMetrics } from "./metrics.js";
import { HbonePool } from "./pool/index.js";
import { InboundProxy, type IdentitySource } from "./proxy/inbound.js";
import { OutboundProxy, splitAddress } from "./proxy/outbound.js";
import { startConnectInNetns } from "./proxy/sockets.js";
import type { PodHandlers } from "./redirect/index.js";

/** What the tunnel needs from the identity manager. */
export interface ZtunnelIdentities extends IdentitySource {
  /** Start fetching (low priority) ahead of the first connection. */
  prefetch?(identity: string): void;
  /** No enrolled pod has this identity any more: stop refreshing it. */
  release?(identity: string): void;
  /** For the admin endpoint and the certificate expiry gauge. */
  certificates?(): readonly { identity: string; state: string; serial?: string; notAfter?: string }[];
  close?(): void;
}

export interface ZtunnelOptions {
  readonly config: ZtunnelConfig;
  readonly logger: Logger;
  readonly identities: ZtunnelIdentities;
  /** Upstream resolvers and settings of the DNS proxy (used when WEFT_DNS_CAPTURE is on). */
  readonly dns?: DnsProxyConfig;
  /** For tests: the process's capabilities. */
  readonly capabilities?: ReadonlySet<string>;
}

export interface RunningZtunnel {
  readonly agent: Agent;
  readonly store: StateStore;
  readonly xds: DeltaXdsClient;
  readonly pool: HbonePool;
  readonly metrics: ZtunnelMetrics;
  readonly inbound: InboundProxy;
  readonly ports: { readonly admin: number; readonly metrics: number; readonly ready: number };
  ready(): boolean;
  /** Stop taking connections, GOAWAY tunnels, let connections run up to `deadlineMs`, close. */
  shutdown(deadlineMs: number): Promise<void>;
}

export function parseHostPort(address: string, variable: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) {
    throw weftError("WEFT_E_CONFIG", `${variable}="${address}" is not host:port`, undefined, {
      fix: "use e.g. 127.0.0.1:15000 or [::1]:15000",
    });
  }
  return { host: m[1] ?? m[2] ?? "", port };
}

function readRoot(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw weftError(
      "WEFT_E_CONFIG",
      `cannot read the mesh root certificate ${path}: ${(err as Error).message}`,
      undefined,
      {
        cause: err,
        fix: "mount ConfigMap weft-ca-root-cert there, or set WEFT_CA_ROOT_FILE",
      },
    );
  }
}

export async function startZtunnel(opts: ZtunnelOptions): Promise<RunningZtunnel> {
  const { config, logger, identities } = opts;
  const admin = parseHostPort(config.adminAddress, "WEFT_ADMIN_ADDRESS");
  const metricsAt = parseHostPort(config.metricsAddress, "WEFT_METRICS_ADDRESS");
  const readyAt = parseHostPort(config.readyAddress, "WEFT_READY_ADDRESS");
  const rootPem = readRoot(config.caRootFile);

  const store = new StateStore(emptySnapshot({ rootNamespace: config.rootNamespace }));
  const snapshot = (): ReturnType<() => StateStore["current"]> => store.current;
  const metrics = new ZtunnelMetrics(logger.child({ part: "access" }));

  const pool = new HbonePool({
    logger: logger.child({ part: "pool" }),
    async connect(key) {
      const { host, port } = splitAddress(key.nextHop);
      const tlsContext = await identities.get(key.srcIdentity);
      const transport =
        key.srcNetns !== undefined
          ? await startConnectInNetns({
              netnsPath: key.srcNetns,
              host,
              port,
              ...(key.srcIp !== undefined ? { localAddress: key.srcIp } : {}),
            })
          : undefined;
      return connectHboneSession({
        host,
        port,
        secureContext: tlsContext.clientContext,
        expectedIdentities: key.dstIdentities,
        ...(transport !== undefined ? { transport } : {}),
      });
    },
  });
  const outbound = new OutboundProxy({
    snapshot,
    pool,
    network: config.network,
    observer: metrics,
    logger: logger.child({ part: "outbound" }),
  });
  const inbound = new InboundProxy({
    snapshot,
    identities,
    network: config.network,
    trustDomain: config.trustDomain,
    observer: metrics,
    logger: logger.child({ part: "inbound" }),
  });

  const dns = config.dnsCapture
    ? new DnsProxy({
        snapshot,
        upstreams: opts.dns?.upstreams ?? [],
        ...(opts.dns !== undefined
          ? {
              domainSuffix: opts.dns.domainSuffix,
              upstreamTimeoutMs: opts.dns.upstreamTimeoutMs,
              tcpIdleTimeoutMs: opts.dns.tcpIdleTimeoutMs,
            }
          : {}),
        log: logger.child({ part: "dns" }),
      })
    : undefined;
  const handlers: PodHandlers = {
    // DNS over TCP is captured by connect4 like any outbound connection: port 53 goes to the proxy.
    outbound: (s, c) =>
      dns !== undefined && c.original.port === 53 ? dns.handleTcp(s, c) : outbound.handle(s, c),
    inbound: (s, c) => inbound.handlePlaintext(s, c),
    hbone: (s, c) => inbound.handleHbone(s, c),
    ...(dns !== undefined ? dns.podHandlers() : {}),
  };
  const agent = await startAgent({
    config,
    handlers,
    logger: logger.child({ part: "agent" }),
    ...(opts.capabilities !== undefined ? { capabilities: opts.capabilities } : {}),
  });
  if (agent.redirector.originalSource) inbound.useOriginalSource(agent.redirector);

  // Certificates follow the pods this node serves: prefetched as soon as the store knows a pod's
  // workload, released once no enrolled pod has that identity any more.
  const held = new Set<string>();
  store.onChange((next) => {
    const wanted = new Set<string>();
    for (const pod of agent.redirector.pods()) {
      for (const ip of pod.ips) {
        const w = next.workloadByAddress(config.network, ip);
        if (w !== undefined) wanted.add(workloadPrincipal(w));
      }
    }
    for (const id of wanted) {
      if (held.has(id)) continue;
      held.add(id);
      identities.prefetch?.(id);
    }
    for (const id of held) {
      if (wanted.has(id)) continue;
      held.delete(id);
      identities.release?.(id);
    }
  });

  let synced = false;
  let draining = false;
  const xds = new DeltaXdsClient({
    address: config.xdsAddress,
    credentials: { kind: "tls", ca: rootPem, serverName: config.caServerName },
    tokenFile: config.caTokenFile,
    node: { id: `ztunnel~${config.nodeName}`, metadata: { NODE_NAME: config.nodeName } },
    handlers: [addressHandler(store), authorizationHandler(store)],
    logger: logger.child({ part: "xds" }),
  });
  xds.on("applied", () => {
    if (!synced) logger.info("first configuration applied from xDS; ready");
    synced = true;
  });
  xds.start();

  let xdsConnected = false;
  xds.on("connected", () => (xdsConnected = true));
  xds.on("disconnected", () => (xdsConnected = false));
  metrics.watch({
    pool: () => pool.size,
    xds: () => ({ connected: xdsConnected, responses: xds.stats.responses, nacks: xds.stats.nacks }),
    certificates: () => identities.certificates?.() ?? [],
    redirectReasons: () => agent.redirector.reasonCounters(),
    enrolledPods: () => agent.redirector.pods().length,
    ...(dns !== undefined ? { dns: () => ({ ...dns.stats }) } : {}),
  });
  const metricsServer: MetricsServer = await serveMetrics(metrics.registry, metricsAt);
  const ready = (): boolean => synced && !draining;
  const readyServer = await listenHttp(readyAt, (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path !== "/healthz/ready") return text(res, 404, "not found: try /healthz/ready\n");
    if (ready()) return text(res, 200, "ready\n");
    text(res, 503, draining ? "draining\n" : "not ready: no configuration from the controller yet\n");
  });
  const adminServer = await listenHttp(admin, (req, res) => {
    const url = new URL(req.url ?? "/", "http://admin");
    switch (url.pathname) {
      case "/config_dump":
        return json(res, {
          node: config.nodeName,
          ready: ready(),
          pods: agent.redirector.pods(),
          workloads: [...store.current.workloads.values()],
          services: [...store.current.services.values()],
          authorizations: [...store.current.authorizations.keys()],
          xds: xds.stats,
          certificates: identities.certificates?.() ?? [],
          pool: pool.snapshot(),
          hbone: inbound.hbone.stats,
          redirect: Object.fromEntries(
            Object.entries(agent.redirector.reasonCounters()).map(([k, v]) => [k, Number(v)]),
          ),
        });
      case "/certs":
        return json(res, identities.certificates?.() ?? []);
      case "/pools":
        return json(res, pool.snapshot());
      case "/memory":
        return json(res, memoryReport(config.nodeOptions));
      case "/logging": {
        const level = url.searchParams.get("level");
        if (req.method === "POST" && level !== null) {
          if (!Object.keys(logger.levels.values).includes(level)) {
            return text(
              res,
              400,
              `unknown level ${level}: use one of ${Object.keys(logger.levels.values).join(", ")}\n`,
            );
          }
          logger.level = level;
        }
        return json(res, { level: logger.level });
      }
      default:
        return text(
          res,
          404,
          "not found: try /config_dump, /certs, /pools, /memory, POST /logging?level=debug\n",
        );
    }
  });

  logger.info(
    {
      node: config.nodeName,
      xds: config.xdsAddress,
      admin: adminServer.port,
      metrics: metricsServer.port,
      ready: readyServer.port,
    },
    "ztunnel started",
  );

  return {
    agent,
    store,
    xds,
    pool,
    metrics,
    inbound,
    ports: { admin: adminServer.port, metrics: metricsServer.port, ready: readyServer.port },
    ready,
    async shutdown(deadlineMs) {
      draining = true;
      inbound.close(false);
      pool.close(false);
      const until = Date.now() + deadlineMs;
      while (Date.now() < until && metrics.active > 0) {
        await new Promise((r) => setTimeout(r, 100));
      }
      inbound.close(true);
      pool.close(true);
      dns?.close();
      await xds.close();
      identities.close?.();
      await agent.close();
      await Promise.all([
        metricsServer.close(),
        closeHttp(readyServer.server),
        closeHttp(adminServer.server),
      ]);
    },
  };
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain", "cache-control": "no-store" }).end(body);
}

function json(res: ServerResponse, body: unknown): void {
  res
    .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
    .end(`${JSON.stringify(body, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`);
}

async function listenHttp(
  at: { host: string; port: number },
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        weftError(
          "WEFT_E_PORT_IN_USE",
          `cannot listen on ${at.host}:${at.port}: ${err.code ?? err.message}`,
          undefined,
          {
            cause: err,
            fix: "another process holds the port: stop it or pick another address",
          },
        ),
      ),
    );
    server.listen(at.port, at.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
