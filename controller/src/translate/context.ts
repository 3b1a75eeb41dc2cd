// Indexes over one snapshot plus the decisions several translators share: enrolment, waypoint
// binding, label selection and status bookkeeping. Everything here is a pure function of the input.
import { isIP } from "node:net";
import type { MeshSettings } from "../k8s/mesh.js";
import type {
  AuthorizationPolicy,
  EndpointSlice,
  Gateway,
  GRPCRoute,
  HTTPRoute,
  K8sObject,
  Namespace,
  Node,
  PeerAuthentication,
  Pod,
  Service,
  TrafficPolicy,
} from "../k8s/objects.js";
import type { Condition, MeshGatewayAddress, ObjectStatus, ParentStatus } from "./model.js";

export const LABEL_DATAPLANE_MODE = "weft.dev/dataplane-mode";
export const LABEL_USE_WAYPOINT = "weft.dev/use-waypoint";
export const LABEL_USE_WAYPOINT_NAMESPACE = "weft.dev/use-waypoint-namespace";
export const LABEL_WAYPOINT_FOR = "weft.dev/waypoint-for";
export const WAYPOINT_CLASS = "weft-waypoint";
export const HBONE_PORT = 15008;
/** Set by Gateway API implementations on the pods of a Gateway's Deployment. */
export const LABEL_GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name";
export const LABEL_SERVICE_NAME = "kubernetes.io/service-name";

export interface TranslationInput {
  readonly objects: readonly K8sObject[];
  readonly mesh: MeshSettings;
}

export const nsName = (ns: string, name: string): string => `${ns}/${name}`;

function sortByKey<T extends { metadata: { namespace?: string; name: string } }>(list: T[]): T[] {
  return list.sort((a, b) => {
    const ka = nsName(a.metadata.namespace ?? "", a.metadata.name);
    const kb = nsName(b.metadata.namespace ?? "", b.metadata.name);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/** Does `labels` satisfy every pair of `matchLabels`? An empty selector selects everything. */
export function selects(
  matchLabels: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!matchLabels) return true;
  for (const [k, v] of Object.entries(matchLabels)) if (labels?.[k] !== v) return false;
  return true;
}

export type WaypointFor = "service" | "workload" | "all" | "none";

export interface WaypointInfo {
  readonly key: string;
  readonly gateway: Gateway;
  readonly waypointFor: WaypointFor;
  /** Undefined when the Gateway is not usable (see `problem`). */
  readonly address?: MeshGatewayAddress;
  readonly problem?: { readonly reason: string; readonly message: string };
}

export type WaypointBinding =
  | { readonly kind: "none" }
  | { readonly kind: "bound"; readonly waypoint: WaypointInfo; readonly explicit: boolean }
  | { readonly kind: "error"; readonly reason: string; readonly message: string; readonly explicit: boolean };

class StatusBook {
  readonly #byKey = new Map<
    string,
    { status: ObjectStatus; conditions: Map<string, Condition>; parents?: ParentStatus[] }
  >();

  set(kind: string, namespace: string, name: string, condition: Condition): void {
    this.#entry(kind, namespace, name).conditions.set(condition.type, condition);
  }

  /** Sets a condition only if none of that type is recorded yet (first reason wins). */
  setIfAbsent(kind: string, namespace: string, name: string, condition: Condition): void {
    const e = this.#entry(kind, namespace, name);
    if (!e.conditions.has(condition.type)) e.conditions.set(condition.type, condition);
  }

  has(kind: string, namespace: string, name: string, type: string): boolean {
    return this.#byKey.get(`${kind}/${namespace}/${name}`)?.conditions.has(type) ?? false;
  }

  addParent(kind: string, namespace: string, name: string, parent: ParentStatus): void {
    const e = this.#entry(kind, namespace, name);
    (e.parents ??= []).push(parent);
  }

  #entry(kind: string, namespace: string, name: string) {
    const key = `${kind}/${namespace}/${name}`;
    let e = this.#byKey.get(key);
    if (!e) {
      e = { status: { kind, namespace, name, conditions: [] }, conditions: new Map() };
      this.#byKey.set(key, e);
    }
    return e;
  }

  list(): ObjectStatus[] {
    const order: Record<string, number> = { Accepted: 0, ResolvedRefs: 1, Programmed: 2 };
    return [...this.#byKey.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, e]) => ({
        ...e.status,
        conditions: [...e.conditions.values()].sort((a, b) => (order[a.type] ?? 9) - (order[b.type] ?? 9)),
        ...(e.parents ? { parents: e.parents } : {}),
      }));
  }
}

export function cond(type: Condition["type"], ok: boolean, reason: string, message: string): Condition {
  return { type, status: ok ? "True" : "False", reason, message };
}

export class Context {
  readonly mesh: MeshSettings;
  readonly namespaces = new Map<string, Namespace>();
  readonly nodes = new Map<string, Node>();
  readonly pods: Pod[] = [];
  readonly services = new Map<string, Service>();
  readonly slicesByService = new Map<string, EndpointSlice[]>();
  readonly gateways = new Map<string, Gateway>();
  readonly httpRoutes: HTTPRoute[] = [];
  readonly grpcRoutes: GRPCRoute[] = [];
  readonly authorizationPolicies: AuthorizationPolicy[] = [];
  readonly peerAuthentications: PeerAuthentication[] = [];
  readonly trafficPolicies: TrafficPolicy[] = [];
  readonly status = new StatusBook();
  #waypoints = new Map<string, WaypointInfo | undefined>();

  /**
   * A context over the same non-pod objects holding only `pods`, with a status book of its own.
   * The incremental translator derives one per update instead of re-indexing (and re-sorting)
   * every Service and policy of the mesh for one pod.
   */
  withPods(pods: readonly Pod[]): Context {
    const ctx = new Context({ objects: pods, mesh: this.mesh });
    for (const [k, v] of this.namespaces) ctx.namespaces.set(k, v);
    for (const [k, v] of this.nodes) ctx.nodes.set(k, v);
    for (const [k, v] of this.services) ctx.services.set(k, v);
    for (const [k, v] of this.slicesByService) ctx.slicesByService.set(k, v);
    for (const [k, v] of this.gateways) ctx.gateways.set(k, v);
    ctx.httpRoutes.push(...this.httpRoutes);
    ctx.grpcRoutes.push(...this.grpcRoutes);
    ctx.authorizationPolicies.push(...this.authorizationPolicies);
    ctx.peerAuthentications.push(...this.peerAuthentications);
    ctx.trafficPolicies.push(...this.trafficPolicies);
    // Waypoint facts depend on Gateways and Services only: shared, not recomputed.
    ctx.#waypoints = this.#waypoints;
    return ctx;
  }

  constructor(input: TranslationInput) {
    this.mesh = input.mesh;
    const services: Service[] = [];
    const slices: EndpointSlice[] = [];
    const gateways: Gateway[] = [];
    for (const o of input.objects) {
      switch (o.kind) {
        case "Namespace":
          this.namespaces.set(o.metadata.name, o);
          break;
        case "Node":
          this.nodes.set(o.metadata.name, o);
          break;
        case "Pod":
          this.pods.push(o);
          break;
        case "Service":
          services.push(o);
          break;
        case "EndpointSlice":
          slices.push(o);
          break;
        case "Gateway":
          gateways.push(o);
          break;
        case "HTTPRoute":
          this.httpRoutes.push(o);
          break;
        case "GRPCRoute":
          this.grpcRoutes.push(o);
          break;
        case "AuthorizationPolicy":
          this.authorizationPolicies.push(o);
          break;
        case "PeerAuthentication":
          this.peerAuthentications.push(o);
          break;
        case "TrafficPolicy":
          this.trafficPolicies.push(o);
          break;
        case "WeftMeshConfig":
        case "WeftTokenList":
          break;
      }
    }
    sortByKey(this.pods);
    sortByKey(this.httpRoutes);
    sortByKey(this.grpcRoutes);
    sortByKey(this.authorizationPolicies);
    sortByKey(this.peerAuthentications);
    sortByKey(this.trafficPolicies);
    for (const s of sortByKey(services)) this.services.set(nsName(ns(s), s.metadata.name), s);
    for (const g of sortByKey(gateways)) this.gateways.set(nsName(ns(g), g.metadata.name), g);
    for (const s of sortByKey(slices)) {
      const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
      if (svc === undefined) continue;
      const key = nsName(ns(s), svc);
      const list = this.slicesByService.get(key) ?? [];
      list.push(s);
      this.slicesByService.set(key, list);
    }
  }

  hostname(namespace: string, name: string): string {
    return `${name}.${namespace}.svc.${this.mesh.domainSuffix}`;
  }

  namespaceEnrolled(namespace: string): boolean {
    return this.namespaces.get(namespace)?.metadata.labels?.[LABEL_DATAPLANE_MODE] === "ambient";
  }

  /** Enrolled: namespace or pod labelled ambient, the pod not labelled none, not host-network. */
  podEnrolled(pod: Pod): boolean {
    const mode = pod.metadata.labels?.[LABEL_DATAPLANE_MODE];
    if (mode === "none" || pod.spec.hostNetwork === true) return false;
    return mode === "ambient" || this.namespaceEnrolled(ns(pod));
  }

  /** Waypoint facts for Gateway `namespace/name`, or undefined if it is not a weft waypoint. */
  waypoint(key: string): WaypointInfo | undefined {
    if (this.#waypoints.has(key)) return this.#waypoints.get(key);
    const gw = this.gateways.get(key);
    const info =
      gw && gw.spec.gatewayClassName === WAYPOINT_CLASS ? this.#describeWaypoint(key, gw) : undefined;
    this.#waypoints.set(key, info);
    return info;
  }

  #describeWaypoint(key: string, gw: Gateway): WaypointInfo {
    const raw = gw.metadata.labels?.[LABEL_WAYPOINT_FOR] ?? "service";
    const waypointFor: WaypointFor = raw === "workload" || raw === "all" || raw === "none" ? raw : "service";
    const listener = gw.spec.listeners.find((l) => l.protocol === "HBONE");
    if (!listener) {
      return {
        key,
        gateway: gw,
        waypointFor,
        problem: {
          reason: "ListenersNotValid",
          message: "a waypoint needs an HBONE listener; add {name: mesh, port: 15008, protocol: HBONE}",
        },
      };
    }
    const gwNs = ns(gw);
    const candidates = [...(gw.status?.addresses ?? []), ...(gw.spec.addresses ?? [])];
    let address: MeshGatewayAddress | undefined;
    // Prefer the waypoint's Service, as Istio does: its VIP survives pod restarts.
    if (this.services.has(nsName(gwNs, gw.metadata.name))) {
      address = {
        hostname: { namespace: gwNs, hostname: this.hostname(gwNs, gw.metadata.name) },
        hboneMtlsPort: listener.port,
      };
    } else {
      for (const a of candidates) {
        if ((a.type === undefined || a.type === "IPAddress") && isIP(a.value) !== 0) {
          address = {
            address: { network: this.mesh.network, address: a.value },
            hboneMtlsPort: listener.port,
          };
          break;
        }
        if (a.type === "Hostname") {
          address = { hostname: { namespace: gwNs, hostname: a.value }, hboneMtlsPort: listener.port };
          break;
        }
      }
    }
    if (!address) {
      return {
        key,
        gateway: gw,
        waypointFor,
        problem: {
          reason: "AddressNotAssigned",
          message: `waypoint ${key} has no address; create Service ${gw.metadata.name} in namespace ${gwNs} for its pods, or set spec.addresses`,
        },
      };
    }
    return { key, gateway: gw, waypointFor, address };
  }

  /**
   * Resolves `weft.dev/use-waypoint` for a Service ("service") or a workload ("workload"). The
   * object's own label wins over its namespace's; `none` on the object opts out. A namespace label
   * only binds kinds the waypoint serves (waypoint-for); an explicit label on the object that
   * names a waypoint not serving its kind is an error.
   */
  bindWaypoint(
    objectLabels: Readonly<Record<string, string>> | undefined,
    namespace: string,
    forKind: "service" | "workload",
  ): WaypointBinding {
    const nsLabels = this.namespaces.get(namespace)?.metadata.labels;
    const own = objectLabels?.[LABEL_USE_WAYPOINT];
    const explicit = own !== undefined;
    const value = own ?? nsLabels?.[LABEL_USE_WAYPOINT];
    if (value === undefined || value === "none" || value === "") return { kind: "none" };
    const gwNamespace =
      (explicit ? objectLabels?.[LABEL_USE_WAYPOINT_NAMESPACE] : nsLabels?.[LABEL_USE_WAYPOINT_NAMESPACE]) ??
      namespace;
    const key = nsName(gwNamespace, value);
    const info = this.waypoint(key);
    if (!info) {
      return {
        kind: "error",
        explicit,
        reason: "WaypointNotFound",
        message: `${LABEL_USE_WAYPOINT}=${value} names Gateway ${key}, which does not exist or is not of class ${WAYPOINT_CLASS}; create it or fix the label`,
      };
    }
    const serves = info.waypointFor === "all" || info.waypointFor === forKind;
    if (!serves) {
      if (!explicit) return { kind: "none" };
      return {
        kind: "error",
        explicit,
        reason: "WaypointNotForKind",
        message: `waypoint ${key} is labelled ${LABEL_WAYPOINT_FOR}=${info.waypointFor} and does not serve ${forKind}s; set it to ${forKind} or all`,
      };
    }
    if (info.problem)
      return { kind: "error", explicit, reason: info.problem.reason, message: info.problem.message };
    return { kind: "bound", waypoint: info, explicit };
  }
}

/** The namespace of a namespaced object (validation defaults it to `default`). */
export function ns(o: { metadata: { namespace?: string } }): string {
  return o.metadata.namespace ?? "default";
}
