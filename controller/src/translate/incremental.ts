// Incremental translation: a snapshot that differs from the previous one only in Pods is translated
// pod by pod, instead of re-translating (and re-encoding) every object of the mesh. At 10k pods a
// full translation plus its protobuf encoding takes ~300 ms on these cores — longer than the time
// between changes in a churning cluster — while one pod takes well under a millisecond (bench/
// push-latency). Istio's ambient index does the same through its krt collections.
//
// Why this is exact: a pod's Workload is a function of the pod and of the non-pod objects only
// (namespace labels, services in its namespace, waypoints, nodes, policies), and so is the list of
// policies attached to it (translatePodEntries). What a pod change can alter beyond its own
// Workload falls back to a full translation:
//   - any non-pod object or the mesh settings changed;
//   - the pod is named by an EndpointSlice endpoint, or has an IP one lists (slice workloads
//     depend on which pods exist);
//   - a policy gains its first or loses its last workload (some Authorization resources exist
//     only while a workload references them: the static STRICT policy, converted
//     PeerAuthentications, fail-closed projections of waypoint policies);
//   - many pods changed at once (a full translation is then as cheap).
// Statuses are not updated pod by pod: the aggregates they report (services with no endpoints,
// how many workloads a policy applies to) are refreshed by the next full translation, which the
// controller runs once changes go quiet (reconcile()). That run also proves the increments right:
// if it publishes any change, they were not (the controller logs and counts it).
import { TYPE_URL } from "@weft/api";
import type { K8sObject, Pod } from "../k8s/objects.js";
import type { MeshSettings } from "../k8s/mesh.js";
import { ns, nsName, type Context, type TranslationInput } from "./context.js";
import type { MeshTranslation, MeshWorkload } from "./model.js";
import { translatePodEntries, translateWithState, type FullTranslation } from "./translate.js";
import { podIps } from "./workloads.js";
import { toXdsResources, workloadResource, type XdsResource } from "./xds.js";

/** Pod changes beyond this share of all pods are translated in full. */
const MAX_INCREMENTAL_SHARE = 1 / 8;
/** ...but a change of up to this many pods is always tried incrementally. */
const MIN_INCREMENTAL_PODS = 64;

export type TranslationUpdate =
  | {
      readonly kind: "full";
      /** Why the whole snapshot was translated (logs, tests). */
      readonly reason: string;
      readonly translation: MeshTranslation;
      /** Every resource of every type: publish() replaces the cache's contents with them. */
      readonly resources: Map<string, XdsResource[]>;
    }
  | {
      readonly kind: "pods";
      /** Pods added, changed or removed. */
      readonly pods: number;
      /** Address resources of changed workloads (TYPE_URL.Address); nothing else changed. */
      readonly typeUrl: string;
      readonly upserts: readonly XdsResource[];
      /** Names (uids) of Address resources that no longer exist. */
      readonly removes: readonly string[];
    };

/**
 * What changed since the previous input, when the source knows it (a Kubernetes informer event):
 * the translator then skips comparing every object. `upserted` are the new objects, `removed` the
 * deleted ones (any version of them). Without it the translator finds the change itself.
 */
export interface ObjectDelta {
  readonly upserted: readonly K8sObject[];
  readonly removed: readonly K8sObject[];
}

const objectKey = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
const podKey = (pod: Pod): string => nsName(ns(pod), pod.metadata.name);

interface State {
  readonly input: TranslationInput;
  readonly meshKey: string;
  /** The input's objects by `kind/namespace/name`, and the objects themselves. */
  readonly objects: Map<string, K8sObject>;
  readonly identities: Set<K8sObject>;
  readonly podTotal: number;
  /** The last full translation's context: its non-pod objects are what a pod is translated in. */
  readonly context: Context;
  readonly waypointOf: ReadonlyMap<string, string>;
  readonly translation: MeshTranslation;
  /** Pod `ns/name` → its workload (pods without one, e.g. no IP yet, are absent). */
  readonly podWorkloads: Map<string, MeshWorkload>;
  /** Policy `ns/name` → how many workloads (pod and EndpointSlice ones) reference it. */
  readonly policyRefs: Map<string, number>;
  /** Pods EndpointSlice endpoints name, and the IPs they list. */
  readonly slicePods: ReadonlySet<string>;
  readonly sliceIps: ReadonlySet<string>;
}

export class IncrementalTranslator {
  #state: State | undefined;
  #fullTranslations = 0;
  #podUpdates = 0;

  /** How many updates were full translations and how many were pod-only increments. */
  get counts(): { readonly full: number; readonly pods: number } {
    return { full: this.#fullTranslations, pods: this.#podUpdates };
  }

  /** The translation of the last full run; its statuses may trail pod-only updates. */
  get translation(): MeshTranslation | undefined {
    return this.#state?.translation;
  }

  /** Translates `input`, pod by pod when only pods differ from the previous input. */
  update(input: TranslationInput, delta?: ObjectDelta): TranslationUpdate {
    const state = this.#state;
    if (state === undefined) return this.#full(input, "first translation");
    const meshKey = meshSettingsKey(input.mesh);
    if (meshKey !== state.meshKey) return this.#full(input, "mesh settings changed");

    const changed: Pod[] = [];
    const removed: Pod[] = [];
    if (delta !== undefined) {
      for (const o of delta.upserted) {
        const key = objectKey(o);
        if (o.kind !== "Pod") return this.#full(input, `${key} changed`);
        if (state.objects.get(key) !== o) changed.push(o);
      }
      for (const o of delta.removed) {
        const key = objectKey(o);
        if (o.kind !== "Pod") return this.#full(input, `${key} removed`);
        const old = state.objects.get(key);
        if (old?.kind === "Pod") removed.push(old);
      }
      return this.#applyPods(state, input, changed, removed);
    }
    // Sources hand unchanged objects over as the same JavaScript objects, so identity finds the
    // few that changed without keying all of them (keying 10k objects costs more than the rest).
    const changedKeys = new Set<string>();
    let unchanged = 0;
    let modified = 0;
    for (const o of input.objects) {
      if (state.identities.has(o)) {
        unchanged++;
        continue;
      }
      const key = objectKey(o);
      if (changedKeys.has(key)) return this.#full(input, `${key} appears twice`);
      changedKeys.add(key);
      if (o.kind !== "Pod") return this.#full(input, `${key} changed`);
      if (state.objects.has(key)) modified++;
      changed.push(o);
    }
    // Whatever the previous snapshot held beyond the unchanged and the modified objects is gone.
    if (state.objects.size > unchanged + modified) {
      const kept = new Set(input.objects);
      for (const [key, o] of state.objects) {
        if (kept.has(o) || changedKeys.has(key)) continue;
        if (o.kind !== "Pod") return this.#full(input, `${key} removed`);
        removed.push(o);
      }
    }
    return this.#applyPods(state, input, changed, removed);
  }

  #applyPods(
    state: State,
    input: TranslationInput,
    changed: readonly Pod[],
    removed: readonly Pod[],
  ): TranslationUpdate {
    const touched = changed.length + removed.length;
    if (touched === 0) {
      this.#state = { ...state, input };
      this.#podUpdates++;
      return { kind: "pods", pods: 0, typeUrl: TYPE_URL.Address, upserts: [], removes: [] };
    }
    if (touched > Math.max(MIN_INCREMENTAL_PODS, state.podTotal * MAX_INCREMENTAL_SHARE)) {
      return this.#full(input, `${touched} pods changed`);
    }
    // The versions the changed pods replace: their old IPs matter below, their objects go.
    const replaced = this.#previousOf(state, changed);
    for (const pod of [...changed, ...removed, ...replaced]) {
      if (state.slicePods.has(podKey(pod)) || podIps(pod).some((ip) => state.sliceIps.has(ip))) {
        return this.#full(input, `pod ${podKey(pod)} is named by an EndpointSlice`);
      }
    }

    const ctx = state.context.withPods(changed);
    const fresh = new Map<string, MeshWorkload>();
    for (const e of translatePodEntries(ctx, changed, state.waypointOf)) {
      fresh.set(podKey(e.pod!), e.workload);
    }
    // Decide before changing anything: a policy whose reference count crosses zero may add or
    // remove an Authorization resource, which only a full translation gets right.
    const delta = new Map<string, number>();
    const count = (w: MeshWorkload | undefined, by: number): void => {
      for (const p of w?.authorizationPolicies ?? []) delta.set(p, (delta.get(p) ?? 0) + by);
    };
    const keys = [...changed.map(podKey), ...removed.map(podKey)];
    for (const key of keys) {
      count(state.podWorkloads.get(key), -1);
      count(fresh.get(key), +1);
    }
    for (const [policy, by] of delta) {
      if (by === 0) continue;
      const before = state.policyRefs.get(policy) ?? 0;
      if (before === 0 || before + by === 0) {
        return this.#full(
          input,
          `policy ${policy} ${before === 0 ? "gains its first" : "loses its last"} workload`,
        );
      }
    }

    const upserts: XdsResource[] = [];
    const removes: string[] = [];
    for (const key of keys) {
      const old = state.podWorkloads.get(key);
      const now = fresh.get(key);
      if (now !== undefined) {
        upserts.push(workloadResource(now));
        state.podWorkloads.set(key, now);
      } else if (old !== undefined) {
        removes.push(old.uid);
        state.podWorkloads.delete(key);
      }
    }
    for (const [policy, by] of delta)
      if (by !== 0) state.policyRefs.set(policy, (state.policyRefs.get(policy) ?? 0) + by);
    for (const pod of removed) {
      state.identities.delete(pod);
      state.objects.delete(objectKey(pod));
    }
    for (const pod of replaced) state.identities.delete(pod);
    for (const pod of changed) {
      state.identities.add(pod);
      state.objects.set(objectKey(pod), pod);
    }
    const podTotal = state.podTotal + (changed.length - replaced.length) - removed.length;
    this.#state = { ...state, input, podTotal };
    this.#podUpdates++;
    return { kind: "pods", pods: touched, typeUrl: TYPE_URL.Address, upserts, removes };
  }

  /**
   * Translates the last input in full (statuses and aggregates catch up). Undefined before the
   * first update.
   */
  reconcile(): Extract<TranslationUpdate, { kind: "full" }> | undefined {
    const state = this.#state;
    return state === undefined ? undefined : this.#full(state.input, "reconcile");
  }

  /** The previous versions of changed pods (their old IPs matter to the EndpointSlice check). */
  #previousOf(state: State, changed: readonly Pod[]): Pod[] {
    const out: Pod[] = [];
    for (const p of changed) {
      const old = state.objects.get(objectKey(p));
      if (old?.kind === "Pod") out.push(old);
    }
    return out;
  }

  #full(input: TranslationInput, reason: string): Extract<TranslationUpdate, { kind: "full" }> {
    const full = translateWithState(input);
    this.#state = stateOf(input, full);
    this.#fullTranslations++;
    return {
      kind: "full",
      reason,
      translation: full.translation,
      resources: toXdsResources(full.translation),
    };
  }
}

function meshSettingsKey(m: MeshSettings): string {
  return JSON.stringify(m, Object.keys(m).sort());
}

function stateOf(input: TranslationInput, full: FullTranslation): State {
  const objects = new Map<string, K8sObject>();
  const identities = new Set<K8sObject>(input.objects);
  let podTotal = 0;
  for (const o of input.objects) {
    objects.set(objectKey(o), o);
    if (o.kind === "Pod") podTotal++;
  }
  const podWorkloads = new Map<string, MeshWorkload>();
  const policyRefs = new Map<string, number>();
  for (const e of full.entries) {
    if (e.pod !== undefined) podWorkloads.set(podKey(e.pod), e.workload);
    for (const p of e.workload.authorizationPolicies) policyRefs.set(p, (policyRefs.get(p) ?? 0) + 1);
  }
  const slicePods = new Set<string>();
  const sliceIps = new Set<string>();
  for (const [serviceKey, slices] of full.ctx.slicesByService) {
    const serviceNs = serviceKey.slice(0, serviceKey.indexOf("/"));
    for (const slice of slices) {
      for (const ep of slice.endpoints ?? []) {
        if (ep.targetRef?.kind === "Pod" && ep.targetRef.name !== undefined) {
          slicePods.add(nsName(ep.targetRef.namespace ?? serviceNs, ep.targetRef.name));
        }
        for (const ip of ep.addresses) sliceIps.add(ip);
      }
    }
  }
  return {
    input,
    meshKey: meshSettingsKey(input.mesh),
    objects,
    identities,
    podTotal,
    context: full.ctx,
    waypointOf: full.waypointOf,
    translation: full.translation,
    podWorkloads,
    policyRefs,
    slicePods,
    sliceIps,
  };
}
