#!/usr/bin/env node
// `weft-ztunnel`: the per-node process (node agent + L4 tunnel). Configuration comes from the
// environment (config.ts names every variable). SIGTERM drains: no new connections, tunnels get
// GOAWAY, running connections have WEFT_DRAIN_TIMEOUT to finish; the eBPF pins stay, so pods stay
// captured (fail closed) until the next ztunnel re-adopts them.
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { createLogger, onSignal } from "@weft/core";
import { readDnsProxyConfig, readZtunnelConfig } from "./config.js";
import { IdentityManager, createCaIssuer } from "./identity/index.js";
import { startZtunnel } from "./ztunnel.js";

const config = readZtunnelConfig();
// Before the data path allocates anything; Node refuses this V8 flag in NODE_OPTIONS.
if (config.gcCountsExternalMemory) setFlagsFromString("--external-memory-accounted-in-global-limit");
// Batched: the access log writes a line per connection.
const logger = createLogger({ name: "weft-ztunnel", level: config.logLevel, batched: true }).child({
  node: config.nodeName,
});
try {
  const rootPem = readFileSync(config.caRootFile, "utf8");
  const issuer = createCaIssuer({
    address: config.caAddress,
    caRootPem: rootPem,
    serverName: config.caServerName,
    tokenFile: config.caTokenFile,
    logger: logger.child({ part: "ca" }),
  });
  const identities = new IdentityManager({
    issuer,
    certTtlSeconds: Math.round(config.certTtl / 1000),
    extraRoots: [rootPem],
    logger: logger.child({ part: "identity" }),
  });
  const ztunnel = await startZtunnel({
    config,
    logger,
    identities,
    ...(config.dnsCapture ? { dns: readDnsProxyConfig() } : {}),
  });
  let stopping = false;
  onSignal(["SIGTERM", "SIGINT"], (signal) => {
    if (stopping) return;
    stopping = true;
    logger.info(
      { signal, drainMs: config.drainTimeout },
      "draining; pins stay in place so pods remain captured",
    );
    ztunnel.shutdown(config.drainTimeout).then(
      () => {
        issuer.close();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  });
} catch (err) {
  logger.fatal({ err }, "ztunnel failed to start");
  process.exitCode = 1;
}
