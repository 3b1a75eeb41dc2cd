// Mesh-wide settings and CA tokens, read from the WeftMeshConfig / WeftTokenList objects.
import type { K8sObject, WeftMeshConfig } from "./objects.js";

export interface MeshSettings {
  /** SPIFFE trust domain: identities are `spiffe://<trustDomain>/ns/<ns>/sa/<sa>`. */
  readonly trustDomain: string;
  /** Policies in this namespace apply mesh-wide (scope GLOBAL). */
  readonly rootNamespace: string;
  /** Cluster id used in workload uids (`<clusterId>//Pod/<ns>/<name>`), as Istio's default `Kubernetes`. */
  readonly clusterId: string;
  /** Service hostnames are `<name>.<ns>.svc.<domainSuffix>`. */
  readonly domainSuffix: string;
  readonly network: string;
  /** mTLS mode when no PeerAuthentication applies. */
  readonly defaultMtlsMode: "STRICT" | "PERMISSIVE";
}

export const DEFAULT_MESH_SETTINGS: MeshSettings = {
  trustDomain: "cluster.local",
  rootNamespace: "weft-system",
  clusterId: "Kubernetes",
  domainSuffix: "cluster.local",
  network: "",
  defaultMtlsMode: "PERMISSIVE",
};

/**
 * A bearer token the CA accepts in file mode, standing in for a Kubernetes TokenReview. Same
 * fields as the CA's own token file entries (before hashing), with the service account split.
 */
export interface ConfigToken {
  readonly token: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName?: string;
  readonly nodeName?: string;
  /** RFC 3339. */
  readonly expiresAt?: string;
}

/** Mesh settings from the (at most one) WeftMeshConfig among `objects`, else the defaults. */
export function meshSettingsOf(objects: readonly K8sObject[]): MeshSettings {
  const cfg = objects.find((o): o is WeftMeshConfig => o.kind === "WeftMeshConfig");
  return cfg ? { ...DEFAULT_MESH_SETTINGS, ...cfg.spec } : DEFAULT_MESH_SETTINGS;
}

/** All CA tokens from every WeftTokenList among `objects`, in object order. */
export function tokensOf(objects: readonly K8sObject[]): ConfigToken[] {
  const out: ConfigToken[] = [];
  for (const o of objects) {
    if (o.kind !== "WeftTokenList") continue;
    for (const t of o.tokens) {
      const [namespace = "", serviceAccount = ""] = t.serviceAccount.split("/");
      out.push({
        token: t.token,
        namespace,
        serviceAccount,
        ...(t.podName === undefined ? {} : { podName: t.podName }),
        ...(t.nodeName === undefined ? {} : { nodeName: t.nodeName }),
        ...(t.expiresAt === undefined ? {} : { expiresAt: t.expiresAt }),
      });
    }
  }
  return out;
}
