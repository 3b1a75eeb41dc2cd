// The whole translation: one snapshot of objects in, every xDS resource (as plain data) and every
// status condition out. Pure and deterministic: outputs are sorted so golden files are stable.
import { cond, Context, ns, WAYPOINT_CLASS, type TranslationInput } from "./context.js";
import { translateAuthorizationPolicies, translatePeerAuthentications } from "./authz.js";
import { translateGrpcRoutes, translateHttpRoutes, translateTrafficPolicies } from "./routes.js";
import { reportServices, translateServices, translateWorkloads, type WorkloadEntry } from "./workloads.js";
import type { Pod } from "../k8s/objects.js";
import type { MeshAuthorization, MeshTranslation } from "./model.js";

const byNsName = <T extends { namespace: string; name: string }>(a: T, b: T): number => {
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

export function translate(input: TranslationInput): MeshTranslation {
  return translateWithState(input).translation;
}

/** A full translation plus what the incremental translator needs to update it pod by pod. */
export interface FullTranslation {
  readonly translation: MeshTranslation;
  readonly ctx: Context;
  /** Every workload entry, pod-derived and EndpointSlice-derived, with its attached policies. */
  readonly entries: readonly WorkloadEntry[];
  /** Service `ns/name` → waypoint Gateway `ns/name`. */
  readonly waypointOf: ReadonlyMap<string, string>;
}

/**
 * The workload entries of `pods` alone, with the authorization policies that attach to each, in
 * a context holding the non-pod objects. Which policies attach to a workload is a predicate of the
 * workload and those objects, so this gives each pod exactly what a full translation gives it;
 * what it computes about policies as a whole (resources, statuses) is discarded.
 */
export function translatePodEntries(
  ctx: Context,
  pods: readonly Pod[],
  waypointOf: ReadonlyMap<string, string>,
): WorkloadEntry[] {
  const entries = translateWorkloads(ctx, pods).filter((e) => e.pod !== undefined);
  translateAuthorizationPolicies(ctx, entries, waypointOf);
  translatePeerAuthentications(ctx, entries);
  for (const e of entries) e.workload.authorizationPolicies.sort();
  return entries;
}

export function translateWithState(input: TranslationInput): FullTranslation {
  const ctx = new Context(input);

  for (const gw of ctx.gateways.values()) {
    if (gw.spec.gatewayClassName !== WAYPOINT_CLASS) continue;
    const info = ctx.waypoint(`${ns(gw)}/${gw.metadata.name}`);
    const problem = info?.problem;
    const gwNs = ns(gw);
    if (problem?.reason === "ListenersNotValid") {
      ctx.status.set(
        "Gateway",
        gwNs,
        gw.metadata.name,
        cond("Accepted", false, problem.reason, problem.message),
      );
    } else {
      ctx.status.set("Gateway", gwNs, gw.metadata.name, cond("Accepted", true, "Accepted", "weft waypoint"));
    }
    ctx.status.set(
      "Gateway",
      gwNs,
      gw.metadata.name,
      problem
        ? cond("Programmed", false, problem.reason, problem.message)
        : cond(
            "Programmed",
            true,
            "Programmed",
            `reachable over HBONE on port ${info?.address?.hboneMtlsPort ?? 15008}`,
          ),
    );
  }

  const { services, waypointOf } = translateServices(ctx);
  const workloads = translateWorkloads(ctx);
  reportServices(ctx, services, workloads);
  const authz = translateAuthorizationPolicies(ctx, workloads, waypointOf);
  const peer = translatePeerAuthentications(ctx, workloads);
  const httpRoutes = translateHttpRoutes(ctx, waypointOf);
  const grpcRoutes = translateGrpcRoutes(ctx, waypointOf);
  const trafficPolicies = translateTrafficPolicies(ctx, waypointOf);

  for (const w of workloads) w.workload.authorizationPolicies.sort();
  const authorizations: MeshAuthorization[] = [...authz.authorizations, ...peer].sort(byNsName);
  const translation: MeshTranslation = {
    workloads: workloads.map((w) => w.workload),
    services: services.sort((a, b) => {
      const ka = `${a.namespace}/${a.hostname}`;
      const kb = `${b.namespace}/${b.hostname}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    }),
    authorizations,
    l7Authorizations: authz.l7Authorizations.sort(byNsName),
    httpRoutes: httpRoutes.sort(byNsName),
    grpcRoutes: grpcRoutes.sort(byNsName),
    trafficPolicies: trafficPolicies.sort(byNsName),
    statuses: ctx.status.list(),
  };
  return { translation, ctx, entries: workloads, waypointOf };
}
