// Pods, Services and EndpointSlices → istio.workload Workload and Service (as plain data).
import { isIP } from "node:net";
import type { EndpointSlice, Pod, Service } from "../k8s/objects.js";
import {
  cond,
  LABEL_GATEWAY_NAME,
  ns,
  nsName,
  selects,
  type Context,
  type WaypointBinding,
} from "./context.js";
import type {
  IPFamilies,
  MeshGatewayAddress,
  MeshLocality,
  MeshPort,
  MeshService,
  MeshWorkload,
  WorkloadType,
} from "./model.js";

const LABEL_REGION = "topology.kubernetes.io/region";
const LABEL_ZONE = "topology.kubernetes.io/zone";
const LABEL_SUBZONE = "topology.istio.io/subzone";

/** A Service with a non-empty selector; `selector: {}` manages no endpoints in Kubernetes either. */
export function hasSelector(svc: Service): boolean {
  return svc.spec.selector !== undefined && Object.keys(svc.spec.selector).length > 0;
}

export function serviceVips(svc: Service): string[] {
  const ips = svc.spec.clusterIPs ?? (svc.spec.clusterIP === undefined ? [] : [svc.spec.clusterIP]);
  return ips.filter((ip) => ip !== "None" && ip !== "");
}

function ipFamilies(svc: Service): IPFamilies {
  const f = new Set(svc.spec.ipFamilies ?? []);
  if (f.size === 0) {
    for (const ip of serviceVips(svc)) f.add(isIP(ip) === 6 ? "IPv6" : "IPv4");
  }
  if (f.has("IPv4") && f.has("IPv6")) return "DUAL";
  if (f.has("IPv6")) return "IPV6_ONLY";
  if (f.has("IPv4")) return "IPV4_ONLY";
  return "AUTOMATIC";
}

/** Records the binding's outcome on the object that carries the label; quiet when nothing was asked. */
function reportBinding(
  ctx: Context,
  kind: string,
  namespace: string,
  name: string,
  b: WaypointBinding,
): void {
  if (b.kind === "bound" && b.explicit) {
    ctx.status.set(
      kind,
      namespace,
      name,
      cond("ResolvedRefs", true, "WaypointBound", `bound to waypoint ${b.waypoint.key}`),
    );
  } else if (b.kind === "error") {
    const target = b.explicit
      ? { kind, namespace, name }
      : { kind: "Namespace", namespace: "", name: namespace };
    ctx.status.set(
      target.kind,
      target.namespace,
      target.name,
      cond("ResolvedRefs", false, b.reason, b.message),
    );
  }
}

function waypointAddress(b: WaypointBinding): MeshGatewayAddress | undefined {
  return b.kind === "bound" ? b.waypoint.address : undefined;
}

export function translateServices(ctx: Context): {
  services: MeshService[];
  waypointOf: Map<string, string>;
} {
  const services: MeshService[] = [];
  /** Service `ns/name` → waypoint Gateway `ns/name`, for L7 translators. */
  const waypointOf = new Map<string, string>();
  for (const svc of ctx.services.values()) {
    if (svc.spec.type === "ExternalName") continue;
    const namespace = ns(svc);
    // A waypoint's own Service (it selects the Gateway's pods) is never redirected to a waypoint.
    const isWaypointService = svc.spec.selector?.[LABEL_GATEWAY_NAME] !== undefined;
    const binding: WaypointBinding = isWaypointService
      ? { kind: "none" }
      : ctx.bindWaypoint(svc.metadata.labels, namespace, "service");
    reportBinding(ctx, "Service", namespace, svc.metadata.name, binding);
    if (binding.kind === "bound") waypointOf.set(nsName(namespace, svc.metadata.name), binding.waypoint.key);
    const waypoint = waypointAddress(binding);
    services.push({
      name: svc.metadata.name,
      namespace,
      hostname: ctx.hostname(namespace, svc.metadata.name),
      addresses: serviceVips(svc).map((address) => ({ network: ctx.mesh.network, address })),
      ports: svc.spec.ports.map((p) => ({
        servicePort: p.port,
        targetPort: typeof p.targetPort === "number" ? p.targetPort : p.targetPort === undefined ? p.port : 0,
      })),
      ...(waypoint ? { waypoint } : {}),
      ipFamilies: ipFamilies(svc),
    });
  }
  return { services, waypointOf };
}

export function podIps(pod: Pod): string[] {
  const list = pod.status?.podIPs?.map((p) => p.ip) ?? [];
  if (list.length === 0 && pod.status?.podIP !== undefined) list.push(pod.status.podIP);
  return [...new Set(list)];
}

function podReady(pod: Pod): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Deployment pods are named `<deployment>-<pod-template-hash>-<suffix>`. */
function workloadIdentity(pod: Pod): { workloadName: string; workloadType: WorkloadType } {
  const hash = pod.metadata.labels?.["pod-template-hash"];
  const name = pod.metadata.name;
  if (hash !== undefined) {
    const at = name.lastIndexOf(`-${hash}-`);
    if (at > 0) return { workloadName: name.slice(0, at), workloadType: "DEPLOYMENT" };
  }
  return { workloadName: name, workloadType: "POD" };
}

function locality(ctx: Context, nodeName: string | undefined): MeshLocality | undefined {
  const labels = nodeName === undefined ? undefined : ctx.nodes.get(nodeName)?.metadata.labels;
  if (!labels) return undefined;
  const l = {
    region: labels[LABEL_REGION] ?? "",
    zone: labels[LABEL_ZONE] ?? "",
    subzone: labels[LABEL_SUBZONE] ?? "",
  };
  return l.region === "" && l.zone === "" && l.subzone === "" ? undefined : l;
}

/** Port mapping of `svc` for `pod`; named target ports resolve through the pod's container ports. */
function portsFor(svc: Service, pod: Pod | undefined): MeshPort[] {
  const out: MeshPort[] = [];
  for (const p of svc.spec.ports) {
    if (typeof p.targetPort === "string") {
      const found = pod?.spec.containers.flatMap((c) => c.ports ?? []).find((cp) => cp.name === p.targetPort);
      // Like Istio: a pod without the named port does not serve this service port.
      if (found) out.push({ servicePort: p.port, targetPort: found.containerPort });
    } else {
      out.push({ servicePort: p.port, targetPort: p.targetPort ?? p.port });
    }
  }
  return out;
}

type MutableWorkload = { -readonly [K in keyof MeshWorkload]: MeshWorkload[K] } & {
  services: Record<string, MeshPort[]>;
  authorizationPolicies: string[];
};

export interface WorkloadEntry {
  readonly workload: MutableWorkload;
  /** The pod, for label selection; undefined for EndpointSlice workloads. */
  readonly pod?: Pod;
  readonly enrolled: boolean;
  /** Waypoint Gateway `ns/name` serving this workload as a destination (workload binding). */
  readonly waypointKey?: string;
}

/**
 * Workloads of `pods` (default: every pod of the snapshot) and of the EndpointSlices of Services
 * without a selector. The incremental translator passes just the pods that changed and keeps only
 * the pod entries: a pod's workload depends on the pod and on the non-pod objects alone.
 */
export function translateWorkloads(ctx: Context, pods: readonly Pod[] = ctx.pods): WorkloadEntry[] {
  const entries: WorkloadEntry[] = [];
  const byPodKey = new Map<string, WorkloadEntry>();
  const podIpSet = new Set<string>();
  // Selector services per namespace, in ctx.services order: each pod looks only at its own
  // namespace's (scanning every service for every pod made a 10k-pod translation quadratic).
  const selectorServices = new Map<string, Service[]>();
  for (const svc of ctx.services.values()) {
    if (!hasSelector(svc) || svc.spec.type === "ExternalName") continue;
    const list = selectorServices.get(ns(svc));
    if (list === undefined) selectorServices.set(ns(svc), [svc]);
    else list.push(svc);
  }
  for (const pod of pods) {
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") continue;
    const addresses = podIps(pod);
    if (addresses.length === 0) continue; // not scheduled or no sandbox yet: nothing to route to
    const namespace = ns(pod);
    const enrolled = ctx.podEnrolled(pod);
    // A waypoint's own pods are never redirected to a waypoint.
    const isWaypointPod = pod.metadata.labels?.[LABEL_GATEWAY_NAME] !== undefined;
    const binding: WaypointBinding = isWaypointPod
      ? { kind: "none" }
      : ctx.bindWaypoint(pod.metadata.labels, namespace, "workload");
    reportBinding(ctx, "Pod", namespace, pod.metadata.name, binding);
    const waypoint = waypointAddress(binding);
    const services: Record<string, MeshPort[]> = {};
    for (const svc of selectorServices.get(namespace) ?? []) {
      if (!selects(svc.spec.selector, pod.metadata.labels)) continue;
      services[nsName(namespace, ctx.hostname(namespace, svc.metadata.name))] = portsFor(svc, pod);
    }
    const labels = pod.metadata.labels ?? {};
    const { workloadName, workloadType } = workloadIdentity(pod);
    const loc = locality(ctx, pod.spec.nodeName);
    const workload: MutableWorkload = {
      uid: `${ctx.mesh.clusterId}//Pod/${namespace}/${pod.metadata.name}`,
      name: pod.metadata.name,
      namespace,
      addresses,
      network: ctx.mesh.network,
      tunnelProtocol: enrolled ? "HBONE" : "NONE",
      trustDomain: ctx.mesh.trustDomain,
      serviceAccount: pod.spec.serviceAccountName ?? "default",
      ...(waypoint ? { waypoint } : {}),
      node: pod.spec.nodeName ?? "",
      canonicalName:
        labels["service.istio.io/canonical-name"] ??
        labels["app.kubernetes.io/name"] ??
        labels["app"] ??
        workloadName,
      canonicalRevision:
        labels["service.istio.io/canonical-revision"] ??
        labels["app.kubernetes.io/version"] ??
        labels["version"] ??
        "latest",
      workloadType,
      workloadName,
      services,
      authorizationPolicies: [],
      status: podReady(pod) ? "HEALTHY" : "UNHEALTHY",
      clusterId: ctx.mesh.clusterId,
      ...(loc ? { locality: loc } : {}),
      // Shares the node's IP: ztunnel must not treat the address as this pod's alone.
      ...(pod.spec.hostNetwork === true ? { networkMode: "HOST_NETWORK" as const } : {}),
    };
    const entry: WorkloadEntry = {
      workload,
      pod,
      enrolled,
      ...(binding.kind === "bound" ? { waypointKey: binding.waypoint.key } : {}),
    };
    entries.push(entry);
    byPodKey.set(nsName(namespace, pod.metadata.name), entry);
    for (const ip of addresses) podIpSet.add(ip);
  }

  // Services without a selector get their endpoints from EndpointSlices written by someone else.
  for (const svc of ctx.services.values()) {
    if (hasSelector(svc) || svc.spec.type === "ExternalName") continue;
    const namespace = ns(svc);
    const svcKey = nsName(namespace, ctx.hostname(namespace, svc.metadata.name));
    for (const slice of ctx.slicesByService.get(nsName(namespace, svc.metadata.name)) ?? []) {
      if (slice.addressType === "FQDN") continue;
      const ports = slicePorts(svc, slice);
      for (const ep of slice.endpoints ?? []) {
        const ref = ep.targetRef;
        const podEntry =
          ref?.kind === "Pod" && ref.name !== undefined
            ? byPodKey.get(nsName(ref.namespace ?? namespace, ref.name))
            : undefined;
        if (podEntry) {
          podEntry.workload.services[svcKey] = ports;
          continue;
        }
        for (const ip of ep.addresses) {
          if (isIP(ip) === 0 || podIpSet.has(ip)) continue;
          entries.push({
            enrolled: false,
            workload: {
              uid: `${ctx.mesh.clusterId}/discovery.k8s.io/EndpointSlice/${namespace}/${slice.metadata.name}/${ip}`,
              name: slice.metadata.name,
              namespace,
              addresses: [ip],
              network: ctx.mesh.network,
              tunnelProtocol: "NONE",
              trustDomain: "",
              serviceAccount: "",
              node: ep.nodeName ?? "",
              canonicalName: svc.metadata.name,
              canonicalRevision: "latest",
              workloadType: "POD",
              workloadName: slice.metadata.name,
              services: { [svcKey]: ports },
              authorizationPolicies: [],
              status: ep.conditions?.ready === false ? "UNHEALTHY" : "HEALTHY",
              clusterId: ctx.mesh.clusterId,
            },
          });
        }
      }
    }
  }
  return entries.sort((a, b) =>
    a.workload.uid < b.workload.uid ? -1 : a.workload.uid > b.workload.uid ? 1 : 0,
  );
}

/** EndpointSlice ports are matched to Service ports by name (a single unnamed port matches ""). */
function slicePorts(svc: Service, slice: EndpointSlice): MeshPort[] {
  const out: MeshPort[] = [];
  for (const sp of svc.spec.ports) {
    const match = (slice.ports ?? []).find((p) => (p.name ?? "") === (sp.name ?? ""));
    if (match?.port !== undefined) out.push({ servicePort: sp.port, targetPort: match.port });
  }
  return out;
}

/** Marks each Service's acceptance and whether any workload backs it. */
export function reportServices(
  ctx: Context,
  services: readonly MeshService[],
  workloads: readonly WorkloadEntry[],
): void {
  const backed = new Set<string>();
  for (const w of workloads) for (const key of Object.keys(w.workload.services)) backed.add(key);
  for (const s of services) {
    // Only Services that asked for something (a waypoint) get status; plain Services stay quiet.
    if (!ctx.status.has("Service", s.namespace, s.name, "ResolvedRefs")) continue;
    const key = nsName(s.namespace, s.hostname);
    ctx.status.set(
      "Service",
      s.namespace,
      s.name,
      backed.has(key)
        ? cond("Programmed", true, "Programmed", "sent to ztunnels")
        : cond("Programmed", true, "NoEndpoints", "sent to ztunnels; no workload backs it yet"),
    );
  }
}
