#!/usr/bin/env node
// `weft-controller`: file source → translate → resource cache → delta xDS, plus the CA, on one
// gRPC/TLS port (DESIGN §2, §5, §6); admin HTTP with /metrics, /ready and /debug/config_dump.
// `startController` is the whole process as a function (tests and embedding); the bottom of the
// file is the command line.
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { Command } from "commander";
import { Drain, createLogger, onSignal, weftError, type Logger } from "@weft/core";
import {
  CertificateAuthority,
  buildTokenTable,
  formatSpiffeId,
  issueServingCertificate,
  loadOrCreateRoot,
  tokenTableAuthenticator,
  type Authenticator,
  type PodFacts,
  type TokenTable,
} from "./ca/index.js";
import { addCaService, TlsServerCredentials, type TlsMaterial } from "./ca-service/index.js";
import { ControllerMetrics } from "./admin/metrics.js";
import { startAdminServer, type AdminServer } from "./admin/server.js";
import { readControllerConfig, type ControllerConfig } from "./config.js";
import { DEFAULT_MESH_SETTINGS, type MeshSettings } from "./k8s/mesh.js";
import type { K8sObject } from "./k8s/objects.js";
import { FileSource, formatProblem, type ConfigSnapshot } from "./source/index.js";
import { IncrementalTranslator, type ObjectStatus, type TranslationUpdate } from "./translate/index.js";
import {
  Debouncer,
  DeltaXdsServer,
  ResourceCache,
  createXdsAuthorizer,
  publish,
  publishUpdate,
} from "./xds/index.js";

export interface ControllerOptions {
  readonly configDir: string;
  readonly caDir: string;
  readonly xdsAddress: string;
  readonly adminAddress: string;
  readonly config: ControllerConfig;
  readonly logger: Logger;
  /**
   * Serve xDS to anyone who can reach the port, without authentication (`--insecure-xds-no-auth`,
   * local debugging only). Default false: every stream must authenticate (token or client
   * certificate) as a node agent or a waypoint.
   */
  readonly insecureXdsNoAuth?: boolean;
}

export interface RunningController {
  readonly xdsPort: number;
  readonly adminPort: number;
  readonly cache: ResourceCache;
  readonly xds: DeltaXdsServer;
  readonly ca: CertificateAuthority;
  readonly metrics: ControllerMetrics;
  /** Stop accepting work, end xDS streams, let CA calls finish up to the deadline, close listeners. */
  shutdown(deadlineMs: number): Promise<void>;
}

/** `host:port` → parts; IPv6 hosts in brackets (`[::1]:15012`). */
export function parseAddress(address: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) {
    throw weftError("WEFT_E_CONFIG", `${flag} "${address}" is not host:port`, undefined, {
      fix: `use e.g. 127.0.0.1:15012, [::1]:15012 or 0.0.0.0:15012`,
    });
  }
  return { host: m[1] ?? m[2] ?? "", port };
}

/** Pods by `namespace/serviceAccount`, for node-agent impersonation checks. */
function podIndex(objects: readonly K8sObject[]): Map<string, PodFacts[]> {
  const index = new Map<string, PodFacts[]>();
  for (const o of objects) {
    if (o.kind !== "Pod") continue;
    const pod = o;
    const namespace = pod.metadata.namespace ?? "default";
    const serviceAccount = pod.spec.serviceAccountName ?? "default";
    const facts: PodFacts = {
      namespace,
      name: pod.metadata.name,
      serviceAccount,
      ...(pod.spec.nodeName !== undefined ? { nodeName: pod.spec.nodeName } : {}),
      ...(pod.status?.phase !== undefined ? { phase: pod.status.phase } : {}),
    };
    const key = `${namespace}/${serviceAccount}`;
    const list = index.get(key);
    if (list === undefined) index.set(key, [facts]);
    else list.push(facts);
  }
  return index;
}

const HALF_LIFE = 0.5;
const SERVING_CERT_TTL_SECONDS = 24 * 3600;
/** When the full translation after pod-only updates runs: 1 s after the last, at most 30 s after the first. */
const RECONCILE = { quietMs: 1000, maxMs: 30_000 } as const;

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const { config, logger } = opts;
  const xdsAddr = parseAddress(opts.xdsAddress, "--xds-address");
  const adminAddr = parseAddress(opts.adminAddress, "--admin-address");
  const metrics = new ControllerMetrics();
  const drain = new Drain();
  let ready = false;

  // ---- configuration source ---------------------------------------------------------------------
  const source = new FileSource({ dir: opts.configDir, logger: logger.child({ part: "source" }) });
  source.onInvalid(() => metrics.configInvalid.inc());
  const first = await source.start();
  const mesh: MeshSettings = first?.mesh ?? DEFAULT_MESH_SETTINGS;

  // ---- CA ---------------------------------------------------------------------------------------
  const { authority, created } = await loadOrCreateRoot(opts.caDir, { trustDomain: mesh.trustDomain });
  logger.info(
    { caDir: opts.caDir, created, trustDomain: mesh.trustDomain },
    created ? "generated a new root CA" : "loaded CA",
  );
  let tokens: TokenTable = { entries: [] };
  let authenticate: Authenticator = tokenTableAuthenticator(tokens);
  let pods = new Map<string, PodFacts[]>();
  const ca = new CertificateAuthority({
    authority,
    trustDomain: mesh.trustDomain,
    authenticate: (authorization, now) => authenticate(authorization, now),
    podsOf: (namespace, serviceAccount) => pods.get(`${namespace}/${serviceAccount}`) ?? [],
    trustedNodeAgents: config.trustedNodeAgents,
    defaultTtlSeconds: Math.round(config.certTtl / 1000),
    maxTtlSeconds: Math.round(config.maxCertTtl / 1000),
    onEvent: (e) => {
      metrics.onCaEvent(e);
      if (e.type === "issued")
        logger.info(
          { identity: e.identity, serial: e.serial, impersonated: e.impersonated },
          "certificate issued",
        );
    },
  });

  // ---- translation → cache → xDS -------------------------------------------------------------------
  const cache = new ResourceCache();
  const xdsAuth = opts.insecureXdsNoAuth === true ? "disabled" : "required";
  if (xdsAuth === "disabled") {
    logger.warn(
      { flag: "--insecure-xds-no-auth" },
      "xDS AUTHENTICATION IS OFF: anyone who can reach the xDS port can read every workload and " +
        "policy of the mesh. Use this only for local debugging; drop --insecure-xds-no-auth everywhere else",
    );
  }
  const xds = new DeltaXdsServer({
    cache,
    debounce: { quietMs: config.debounceQuiet, maxMs: config.debounceMax },
    logger: logger.child({ part: "xds" }),
    onEvent: (e) => metrics.onXdsEvent(e),
    // The same token check as the CA, and certificates chaining to the CA's trust bundle.
    ...(xdsAuth === "required"
      ? {
          authorize: createXdsAuthorizer({
            authenticate: (authorization, now) => authenticate(authorization, now),
            trustBundle: () => ca.trustBundle,
            intermediates: () => ca.authority.issuerChain,
            trustDomain: mesh.trustDomain,
            trustedNodeAgents: config.trustedNodeAgents,
          }),
        }
      : {}),
  });
  let statuses: readonly ObjectStatus[] = [];
  // Pod-only snapshots are translated pod by pod; once they go quiet (or at the latest every
  // RECONCILE.maxMs under constant churn) a full translation refreshes the statuses and checks the
  // increments: it should change nothing.
  const translator = new IncrementalTranslator();
  const reconciler = new Debouncer(RECONCILE, () => {
    const full = translator.reconcile();
    if (full === undefined) return;
    metrics.translations.inc({ kind: "reconcile" });
    statuses = full.translation.statuses;
    const diverged = publish(cache, full.resources);
    if (diverged > 0) {
      metrics.translationDivergences.inc();
      logger.warn(
        { changed: diverged },
        "the full reconcile translation changed resources the pod-by-pod updates had published; they are corrected now (please report this bug)",
      );
    }
  });
  let servedVersion = 0;
  const onSnapshot = (snapshot: ConfigSnapshot): void => {
    const seenAt = performance.now();
    if (snapshot.mesh.trustDomain !== mesh.trustDomain) {
      logger.warn(
        { running: mesh.trustDomain, configured: snapshot.mesh.trustDomain },
        "trust domain changed in WeftMeshConfig; restart the controller to issue certificates in the new one",
      );
    }
    try {
      tokens = buildTokenTable(snapshot.tokens, "WeftTokenList");
      authenticate = tokenTableAuthenticator(tokens);
    } catch (err) {
      logger.error({ err }, "CA tokens in the config are invalid; keeping the previous tokens");
    }
    pods = podIndex(snapshot.objects);
    let update: TranslationUpdate;
    const timer = metrics.translationSeconds.startTimer();
    try {
      update = translator.update({ objects: snapshot.objects, mesh: snapshot.mesh });
      statuses = translator.translation?.statuses ?? [];
    } catch (err) {
      logger.error(
        { err, version: snapshot.version },
        "translation failed; still serving the previous configuration",
      );
      return;
    } finally {
      timer();
    }
    metrics.translations.inc({ kind: update.kind });
    const changed = publishUpdate(cache, update, seenAt);
    if (update.kind === "pods") reconciler.trigger();
    else reconciler.cancel();
    servedVersion = snapshot.version;
    metrics.configSnapshots.inc();
    for (const s of statuses) {
      const bad = s.conditions.filter((c) => c.status === "False");
      if (bad.length > 0)
        logger.warn(
          { object: `${s.kind} ${s.namespace}/${s.name}`, conditions: bad },
          "object not fully accepted",
        );
    }
    logger.info(
      { version: snapshot.version, changed, objects: snapshot.objects.length },
      "configuration translated",
    );
  };
  source.onSnapshot(onSnapshot);
  if (first !== undefined) onSnapshot(first);
  else for (const p of source.lastErrors()) logger.error({ problem: p }, formatProblem(p));

  // ---- serving certificate + one gRPC/TLS server for xDS and CA -------------------------------------
  const [ns = "weft-system", sa = "weft-controller"] = config.serviceAccount.split("/");
  const identity = formatSpiffeId({ trustDomain: mesh.trustDomain, namespace: ns, serviceAccount: sa });
  const ipSans = ["127.0.0.1", "::1", xdsAddr.host].filter((h) => h !== "0.0.0.0" && h !== "::" && h !== "");
  const material = async (): Promise<{ tls: TlsMaterial; notAfter: Date }> => {
    const now = new Date();
    const serving = await issueServingCertificate(ca.authority, {
      identity,
      dnsNames: config.dnsNames,
      ipAddresses: ipSans,
      ttlSeconds: SERVING_CERT_TTL_SECONDS,
      now,
    });
    return {
      tls: { ca: ca.trustBundle.toPem(), certChainPem: serving.certChain.join(""), keyPem: serving.keyPem },
      notAfter: new Date(
        Math.min(now.getTime() + SERVING_CERT_TTL_SECONDS * 1000, ca.authority.cert.notAfter.getTime()),
      ),
    };
  };
  const initial = await material();
  const credentials = new TlsServerCredentials(initial.tls);
  let renewTimer: NodeJS.Timeout | undefined;
  const scheduleRenewal = (notAfter: Date): void => {
    const delay = Math.max(60_000, (notAfter.getTime() - Date.now()) * HALF_LIFE);
    renewTimer = setTimeout(
      () => {
        material().then(
          (m) => {
            credentials.update(m.tls);
            logger.info({ notAfter: m.notAfter.toISOString() }, "serving certificate renewed");
            scheduleRenewal(m.notAfter);
          },
          (err: unknown) => {
            logger.error({ err }, "serving certificate renewal failed; retrying in a minute");
            scheduleRenewal(new Date(Date.now() + 120_000));
          },
        );
      },
      Math.min(delay, 2 ** 31 - 1),
    );
    renewTimer.unref();
  };
  scheduleRenewal(initial.notAfter);

  const grpcServer = new grpc.Server({
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.max_receive_message_length": 4 << 20,
  });
  xds.addTo(grpcServer);
  addCaService(grpcServer, { ca, logger: logger.child({ part: "ca" }), drain });
  const xdsPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(
      `${xdsAddr.host.includes(":") ? `[${xdsAddr.host}]` : xdsAddr.host}:${xdsAddr.port}`,
      credentials,
      (err, port) =>
        err
          ? reject(
              weftError(
                "WEFT_E_UNAVAILABLE",
                `cannot listen for xDS/CA on ${opts.xdsAddress}: ${err.message}`,
                undefined,
                {
                  cause: err,
                  fix: "pick a free port with --xds-address, or stop the process holding it",
                },
              ),
            )
          : resolve(port),
    ),
  );

  // ---- admin --------------------------------------------------------------------------------------
  let admin: AdminServer;
  try {
    admin = await startAdminServer({
      host: adminAddr.host,
      port: adminAddr.port,
      registry: metrics.registry,
      ready: () => ready && !drain.isDraining,
      configDump: () => ({
        configVersion: servedVersion,
        configErrors: source.lastErrors().map(formatProblem),
        trustDomain: mesh.trustDomain,
        trustBundle: ca.trustBundle.fingerprints,
        xdsAuth,
        resources: Object.fromEntries(
          cache
            .typeUrls()
            .map((typeUrl) => [
              typeUrl,
              [...cache.resources(typeUrl).values()].map((r) => ({ name: r.name, version: r.version })),
            ]),
        ),
        clients: xds.dump(),
        statuses,
      }),
    });
  } catch (err) {
    grpcServer.forceShutdown();
    throw err;
  }
  ready = first !== undefined;
  source.onSnapshot(() => {
    ready = true;
  });
  logger.info(
    { xdsPort, adminPort: admin.port, configDir: opts.configDir, identity, xdsAuth },
    "weft-controller serving",
  );

  let stopping: Promise<void> | undefined;
  return {
    xdsPort,
    adminPort: admin.port,
    cache,
    xds,
    ca,
    metrics,
    shutdown: (deadlineMs) =>
      (stopping ??= (async () => {
        ready = false;
        if (renewTimer !== undefined) clearTimeout(renewTimer);
        reconciler.cancel();
        await source.close();
        // xDS streams never finish on their own: end them so clients move to another replica.
        xds.close();
        const { forced } = await drain.drain(deadlineMs);
        if (forced > 0) logger.warn({ forced }, "drain deadline passed with CA requests in flight");
        await new Promise<void>((resolve) => {
          const t = setTimeout(
            () => {
              grpcServer.forceShutdown();
              resolve();
            },
            Math.max(100, deadlineMs),
          );
          grpcServer.tryShutdown(() => {
            clearTimeout(t);
            resolve();
          });
        });
        await admin.close();
        logger.info("weft-controller stopped");
      })()),
  };
}

// ---- command line ---------------------------------------------------------------------------------

export async function main(argv: readonly string[]): Promise<void> {
  const config = readControllerConfig();
  const program = new Command("weft-controller")
    .description("weft control plane: delta xDS and the CA on one gRPC/TLS port, serving a config directory")
    .option(
      "--config-dir <dir>",
      "directory of Kubernetes YAML to serve (env WEFT_CONTROLLER_CONFIG_DIR)",
      config.configDir,
    )
    .option(
      "--ca-dir <dir>",
      "CA directory: ca-cert.pem + ca-key.pem, generated when empty (env WEFT_CONTROLLER_CA_DIR)",
      config.caDir,
    )
    .option("--xds-address <host:port>", "xDS + CA gRPC/TLS listener", config.xdsAddress)
    .option(
      "--admin-address <host:port>",
      "admin HTTP listener (/metrics, /ready, /debug/config_dump)",
      config.adminAddress,
    )
    .option(
      "--insecure-xds-no-auth",
      "DEBUG ONLY: serve xDS without authenticating clients (anyone reaching the port reads all config)",
      false,
    )
    .showHelpAfterError();
  program.parse(argv);
  const flags = program.opts<{
    configDir?: string;
    caDir?: string;
    xdsAddress: string;
    adminAddress: string;
    insecureXdsNoAuth: boolean;
  }>();
  const logger = createLogger({ name: "weft-controller", level: config.logLevel });
  if (flags.configDir === undefined || flags.caDir === undefined) {
    throw weftError("WEFT_E_CONFIG", "--config-dir and --ca-dir are required", undefined, {
      fix: "pass --config-dir <dir of YAML> --ca-dir <dir for CA material> (or WEFT_CONTROLLER_CONFIG_DIR / WEFT_CONTROLLER_CA_DIR)",
    });
  }
  const controller = await startController({
    configDir: flags.configDir,
    caDir: flags.caDir,
    xdsAddress: flags.xdsAddress,
    adminAddress: flags.adminAddress,
    config,
    logger,
    insecureXdsNoAuth: flags.insecureXdsNoAuth,
  });
  onSignal(["SIGTERM", "SIGINT"], (signal) => {
    logger.info({ signal, deadlineMs: config.drainDeadline }, "draining");
    controller.shutdown(config.drainDeadline).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv).catch((err: unknown) => {
    // One readable line for people, then exit non-zero; the full error goes to the JSON log.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`weft-controller: ${message}\n`);
    process.exit(1);
  });
}
