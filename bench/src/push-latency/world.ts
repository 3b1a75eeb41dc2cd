// A synthetic cluster as the Kubernetes objects the controller reads: ambient namespaces of
// PODS_PER_NAMESPACE pods, each pod selected by one of SERVICES_PER_NAMESPACE Services through its
// `app` label. Mutations are the single changes the benchmark times: add a pod, relabel a pod (it
// leaves one Service and joins another), delete a pod. Deterministic, so runs are comparable.
import type { K8sObject, Namespace, Pod, Service } from "@weft/controller";

export const PODS_PER_NAMESPACE = 200;
export const SERVICES_PER_NAMESPACE = 20;
const PODS_PER_NODE = 50;

export type MutationKind = "add-pod" | "relabel-pod" | "delete-pod";

export interface Mutation {
  readonly kind: MutationKind;
  /** `namespace/name` of the pod changed. */
  readonly pod: string;
  /** The change as an informer would deliver it (the translator's ObjectDelta). */
  readonly upserted: readonly Pod[];
  readonly removed: readonly Pod[];
}

function ipv4(base: number, index: number): string {
  return `${base}.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}

function namespaceObject(name: string): Namespace {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels: { "weft.dev/dataplane-mode": "ambient" } },
  };
}

function serviceObject(namespace: string, index: number, vip: string): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `svc-${index}`, namespace },
    spec: {
      clusterIP: vip,
      selector: { app: `svc-${index}` },
      ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
    },
  };
}

function podObject(namespace: string, name: string, app: string, ip: string, node: string): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { app } },
    spec: { nodeName: node, serviceAccountName: app, containers: [{ name: "app" }] },
    status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] },
  };
}

export class World {
  readonly namespaces: readonly Namespace[];
  readonly services: readonly Service[];
  /** Pods by `namespace/name`, in insertion order. */
  readonly pods = new Map<string, Pod>();
  readonly #initialPods: readonly string[];
  #added = 0;

  constructor(podCount: number) {
    const nsCount = Math.max(1, Math.ceil(podCount / PODS_PER_NAMESPACE));
    const namespaces: Namespace[] = [];
    const services: Service[] = [];
    for (let n = 0; n < nsCount; n++) {
      const ns = `bench-${n}`;
      namespaces.push(namespaceObject(ns));
      for (let s = 0; s < SERVICES_PER_NAMESPACE; s++) {
        services.push(serviceObject(ns, s, ipv4(10, (96 << 16) + n * SERVICES_PER_NAMESPACE + s)));
      }
    }
    for (let i = 0; i < podCount; i++) {
      const ns = `bench-${i % nsCount}`;
      const name = `pod-${i}`;
      const app = `svc-${Math.floor(i / nsCount) % SERVICES_PER_NAMESPACE}`;
      this.pods.set(
        `${ns}/${name}`,
        podObject(ns, name, app, ipv4(10, (1 << 16) + i), `node-${Math.floor(i / PODS_PER_NODE)}`),
      );
    }
    this.namespaces = namespaces;
    this.services = services;
    this.#initialPods = [...this.pods.keys()];
  }

  /** Every object, as a config snapshot would hold them. */
  objects(): K8sObject[] {
    return [...this.namespaces, ...this.services, ...this.pods.values()];
  }

  /**
   * The k-th change of a run: a pod is added, an existing pod is relabelled to the next Service,
   * then the added pod is deleted again, so the pod count stays put over a long run.
   */
  mutate(k: number): Mutation {
    switch (k % 3) {
      case 0: {
        const i = this.#added++;
        const ns = this.namespaces[i % this.namespaces.length]!.metadata.name;
        const name = `added-${i}`;
        const pod = podObject(ns, name, "svc-0", ipv4(10, (200 << 16) + i), "node-0");
        this.pods.set(`${ns}/${name}`, pod);
        return { kind: "add-pod", pod: `${ns}/${name}`, upserted: [pod], removed: [] };
      }
      case 1: {
        const key = this.#initialPods[(k * 7919) % this.#initialPods.length]!;
        const pod = this.pods.get(key)!;
        const app = pod.metadata.labels?.["app"] ?? "svc-0";
        const next = `svc-${(Number(app.slice(4)) + 1) % SERVICES_PER_NAMESPACE}`;
        const relabelled: Pod = {
          ...pod,
          metadata: { ...pod.metadata, labels: { ...pod.metadata.labels, app: next } },
        };
        this.pods.set(key, relabelled);
        return { kind: "relabel-pod", pod: key, upserted: [relabelled], removed: [] };
      }
      default: {
        const i = this.#added - 1;
        const ns = this.namespaces[i % this.namespaces.length]!.metadata.name;
        const key = `${ns}/added-${i}`;
        const gone = this.pods.get(key)!;
        this.pods.delete(key);
        return { kind: "delete-pod", pod: key, upserted: [], removed: [gone] };
      }
    }
  }
}
