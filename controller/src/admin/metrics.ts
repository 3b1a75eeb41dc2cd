// The controller's Prometheus metrics: xDS clients, pushes, push latency and NACKs, certificates
// issued and CA refusals by reason. Fed by the xDS server's and the CA's event hooks, so neither
// depends on prom-client.
import { Counter, Gauge, Histogram } from "prom-client";
import { createRegistry, type Registry } from "@weft/core";
import type { CaEvent } from "../ca/index.js";
import type { XdsServerEvent } from "../xds/index.js";

/** `type.googleapis.com/istio.workload.Address` → `istio.workload.Address` (a short, bounded label). */
export function typeLabel(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf("/");
  return slash >= 0 ? typeUrl.slice(slash + 1) : typeUrl;
}

export class ControllerMetrics {
  readonly registry: Registry;
  readonly xdsClients: Gauge;
  readonly xdsPushes: Counter<"type">;
  readonly xdsPushedResources: Counter<"type">;
  readonly xdsPushLatency: Histogram<"type">;
  readonly xdsNacks: Counter<"type">;
  readonly xdsDenied: Counter<"status" | "reason">;
  readonly certificatesIssued: Counter<"impersonated">;
  readonly caErrors: Counter<"reason">;
  readonly configSnapshots: Counter;
  readonly configInvalid: Counter;
  readonly translationSeconds: Histogram;
  readonly translations: Counter<"kind">;
  readonly translationDivergences: Counter;

  constructor(registry: Registry = createRegistry({ collectDefault: true })) {
    this.registry = registry;
    const registers = [registry];
    this.xdsClients = new Gauge({
      name: "weft_controller_xds_clients",
      help: "Connected delta xDS streams.",
      registers,
    });
    this.xdsPushes = new Counter({
      name: "weft_controller_xds_pushes_total",
      help: "Delta xDS responses written, by resource type.",
      labelNames: ["type"],
      registers,
    });
    this.xdsPushedResources = new Counter({
      name: "weft_controller_xds_pushed_resources_total",
      help: "Resources sent in delta xDS responses, by resource type.",
      labelNames: ["type"],
      registers,
    });
    this.xdsPushLatency = new Histogram({
      name: "weft_controller_xds_push_latency_seconds",
      help: "From a config change being seen to the response carrying it being written, per client push.",
      labelNames: ["type"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.xdsNacks = new Counter({
      name: "weft_controller_xds_nacks_total",
      help: "Responses a client NACKed (rejected resources), by resource type.",
      labelNames: ["type"],
      registers,
    });
    this.xdsDenied = new Counter({
      name: "weft_controller_xds_denied_total",
      help: "xDS streams refused before any config was sent (bad or missing credentials, wrong role), by gRPC status and reason.",
      labelNames: ["status", "reason"],
      registers,
    });
    this.certificatesIssued = new Counter({
      name: "weft_controller_ca_certificates_issued_total",
      help: "Workload certificates issued; impersonated=true when a node agent asked for a pod on its node.",
      labelNames: ["impersonated"],
      registers,
    });
    this.caErrors = new Counter({
      name: "weft_controller_ca_errors_total",
      help: "Certificate requests refused, by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.configSnapshots = new Counter({
      name: "weft_controller_config_snapshots_total",
      help: "Valid configuration snapshots translated and served.",
      registers,
    });
    this.configInvalid = new Counter({
      name: "weft_controller_config_invalid_total",
      help: "Configuration loads rejected as invalid (the previous snapshot stays in effect).",
      registers,
    });
    this.translationSeconds = new Histogram({
      name: "weft_controller_translation_seconds",
      help: "Time to translate one configuration snapshot into xDS resources.",
      buckets: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.translations = new Counter({
      name: "weft_controller_translations_total",
      help: "Translations by kind: full (every object), pods (only the pods that changed), reconcile (full, after changes went quiet).",
      labelNames: ["kind"],
      registers,
    });
    this.translationDivergences = new Counter({
      name: "weft_controller_translation_divergences_total",
      help: "Reconcile translations that changed a resource the pod-by-pod updates had published: a bug, also logged.",
      registers,
    });
  }

  onXdsEvent(e: XdsServerEvent): void {
    switch (e.type) {
      case "connected":
        this.xdsClients.inc();
        break;
      case "disconnected":
        this.xdsClients.dec();
        break;
      case "push": {
        const type = typeLabel(e.typeUrl);
        this.xdsPushes.inc({ type });
        this.xdsPushedResources.inc({ type }, e.resources);
        if (e.latencyMs !== undefined) this.xdsPushLatency.observe({ type }, e.latencyMs / 1000);
        break;
      }
      case "nack":
        this.xdsNacks.inc({ type: typeLabel(e.typeUrl) });
        break;
      case "denied":
        this.xdsDenied.inc({ status: e.status, reason: e.reason });
        break;
      case "ack":
        break;
    }
  }

  onCaEvent(e: CaEvent): void {
    if (e.type === "issued") this.certificatesIssued.inc({ impersonated: String(e.impersonated) });
    else if (e.type === "refused") this.caErrors.inc({ reason: e.reason });
  }
}
