// HTTPRoute / GRPCRoute (GAMMA: parentRefs to Services, or to a waypoint Gateway) and
// TrafficPolicy → weft.v1alpha1 resources for waypoints, with Gateway API route status per parent.
import { durationToMs } from "../k8s/common.js";
import type {
  BackendRef,
  GRPCRoute,
  HTTPFilter,
  HTTPRoute,
  ParentRef,
  TrafficPolicy,
} from "../k8s/objects.js";
import { cond, ns, nsName, WAYPOINT_CLASS, type Context } from "./context.js";
import type {
  Condition,
  MeshBackendRef,
  MeshGrpcRoute,
  MeshHeaderModifier,
  MeshHttpFilter,
  MeshHttpRoute,
  MeshObjectRef,
  MeshPathModifier,
  MeshTrafficPolicy,
  MeshValueMatch,
} from "./model.js";

const isCore = (group: string | undefined): boolean =>
  group === undefined || group === "" || group === "core";

interface ResolvedParent {
  readonly ref: MeshObjectRef;
  readonly waypoint: string;
}

/** Resolves one parentRef; undefined (and no status) for Gateways of another class: not ours. */
function resolveParent(
  ctx: Context,
  routeNs: string,
  p: ParentRef,
  serviceWaypoints: ReadonlyMap<string, string>,
): { parent?: ResolvedParent; accepted: Condition } | undefined {
  const parentNs = p.namespace ?? routeNs;
  const kind = p.kind ?? "Gateway";
  const group = p.group ?? (kind === "Service" ? "" : "gateway.networking.k8s.io");
  if (kind === "Service" && isCore(group)) {
    const svc = ctx.services.get(nsName(parentNs, p.name));
    if (!svc) {
      return {
        accepted: cond(
          "Accepted",
          false,
          "NoMatchingParent",
          `Service ${parentNs}/${p.name} does not exist; create it or fix parentRefs`,
        ),
      };
    }
    if (p.port !== undefined && !svc.spec.ports.some((sp) => sp.port === p.port)) {
      return {
        accepted: cond(
          "Accepted",
          false,
          "NoMatchingParent",
          `Service ${parentNs}/${p.name} has no port ${p.port}; fix parentRefs.port`,
        ),
      };
    }
    const waypoint = serviceWaypoints.get(nsName(parentNs, p.name));
    if (!waypoint) {
      return {
        accepted: cond(
          "Accepted",
          false,
          "WaypointRequired",
          `Service ${parentNs}/${p.name} has no waypoint, so nothing applies this route; label it (or its namespace) weft.dev/use-waypoint=<gateway>`,
        ),
      };
    }
    return {
      parent: {
        waypoint,
        ref: {
          kind: "SERVICE",
          namespace: parentNs,
          name: p.name,
          hostname: ctx.hostname(parentNs, p.name),
          port: p.port ?? 0,
          sectionName: p.sectionName ?? "",
        },
      },
      accepted: cond(
        "Accepted",
        true,
        "Accepted",
        `attached to Service ${parentNs}/${p.name} via waypoint ${waypoint}`,
      ),
    };
  }
  if (kind === "Gateway" && group === "gateway.networking.k8s.io") {
    const gw = ctx.gateways.get(nsName(parentNs, p.name));
    if (gw && gw.spec.gatewayClassName !== WAYPOINT_CLASS) return undefined;
    const wp = gw ? ctx.waypoint(nsName(parentNs, p.name)) : undefined;
    if (!wp) {
      return {
        accepted: cond(
          "Accepted",
          false,
          "NoMatchingParent",
          `Gateway ${parentNs}/${p.name} does not exist; create it or fix parentRefs`,
        ),
      };
    }
    return {
      parent: {
        waypoint: wp.key,
        ref: {
          kind: "GATEWAY",
          namespace: parentNs,
          name: p.name,
          hostname: "",
          port: p.port ?? 0,
          sectionName: p.sectionName ?? "",
        },
      },
      accepted: cond("Accepted", true, "Accepted", `attached to waypoint ${wp.key}`),
    };
  }
  return {
    accepted: cond(
      "Accepted",
      false,
      "NoMatchingParent",
      `parentRefs of kind ${group}/${kind} are not supported; use a Service or a waypoint Gateway`,
    ),
  };
}

interface BackendProblem {
  readonly reason: string;
  readonly message: string;
}

function resolveBackend(
  ctx: Context,
  routeNs: string,
  b: BackendRef,
  problems: BackendProblem[],
): MeshBackendRef {
  const weight = b.weight ?? 1;
  const kind = b.kind ?? "Service";
  const backendNs = b.namespace ?? routeNs;
  if (kind !== "Service" || !isCore(b.group)) {
    problems.push({
      reason: "InvalidKind",
      message: `backendRef ${b.name}: kind ${b.group ? `${b.group}/` : ""}${kind} is not supported; use a Service`,
    });
    return { weight };
  }
  if (backendNs !== routeNs) {
    problems.push({
      reason: "RefNotPermitted",
      message: `backendRef ${backendNs}/${b.name} is in another namespace; weft does not read ReferenceGrants yet, so move the route or the Service`,
    });
    return { weight };
  }
  const svc = ctx.services.get(nsName(backendNs, b.name));
  if (!svc) {
    problems.push({
      reason: "BackendNotFound",
      message: `Service ${backendNs}/${b.name} does not exist; create it or fix backendRefs`,
    });
    return { weight };
  }
  if (b.port === undefined) {
    problems.push({
      reason: "UnsupportedValue",
      message: `backendRef ${b.name} has no port; set backendRefs.port`,
    });
    return { weight };
  }
  if (!svc.spec.ports.some((p) => p.port === b.port)) {
    problems.push({
      reason: "BackendNotFound",
      message: `Service ${backendNs}/${b.name} has no port ${b.port}; use one of ${svc.spec.ports.map((p) => p.port).join(", ")}`,
    });
    return { weight };
  }
  return {
    service: {
      kind: "SERVICE",
      namespace: backendNs,
      name: b.name,
      hostname: ctx.hostname(backendNs, b.name),
      port: b.port,
      sectionName: "",
    },
    weight,
  };
}

function headerModifier(m: NonNullable<HTTPFilter["requestHeaderModifier"]>): MeshHeaderModifier {
  return { set: m.set ?? [], add: m.add ?? [], remove: m.remove ?? [] };
}

function pathModifier(
  p: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } | undefined,
): MeshPathModifier | undefined {
  if (!p) return undefined;
  return p.type === "ReplaceFullPath"
    ? { replaceFullPath: p.replaceFullPath ?? "/" }
    : { replacePrefixMatch: p.replacePrefixMatch ?? "/" };
}

function filters(
  ctx: Context,
  routeNs: string,
  list: readonly HTTPFilter[] | undefined,
  problems: BackendProblem[],
): MeshHttpFilter[] {
  const out: MeshHttpFilter[] = [];
  for (const f of list ?? []) {
    switch (f.type) {
      case "RequestHeaderModifier":
        if (f.requestHeaderModifier)
          out.push({ requestHeaderModifier: headerModifier(f.requestHeaderModifier) });
        break;
      case "ResponseHeaderModifier":
        if (f.responseHeaderModifier)
          out.push({ responseHeaderModifier: headerModifier(f.responseHeaderModifier) });
        break;
      case "RequestRedirect": {
        const r = f.requestRedirect ?? {};
        const path = pathModifier(r.path);
        out.push({
          requestRedirect: {
            scheme: r.scheme ?? "",
            hostname: r.hostname ?? "",
            ...(path ? { path } : {}),
            port: r.port ?? 0,
            statusCode: r.statusCode ?? 302,
          },
        });
        break;
      }
      case "URLRewrite": {
        const r = f.urlRewrite ?? {};
        const path = pathModifier(r.path);
        out.push({ urlRewrite: { hostname: r.hostname ?? "", ...(path ? { path } : {}) } });
        break;
      }
      case "RequestMirror":
        if (f.requestMirror) {
          const backend = resolveBackend(ctx, routeNs, f.requestMirror.backendRef, problems);
          const pct = f.requestMirror.percent;
          out.push({
            requestMirror: {
              backend,
              ...(pct === undefined ? {} : { fraction: { numerator: pct, denominator: 100 } }),
            },
          });
        }
        break;
      case "ExtensionRef":
        problems.push({
          reason: "UnsupportedValue",
          message: "ExtensionRef filters are not supported by weft waypoints; remove the filter",
        });
        break;
    }
  }
  return out;
}

function valueMatches(
  list: readonly { type?: string; name: string; value: string }[] | undefined,
): MeshValueMatch[] {
  return (list ?? []).map((h) =>
    h.type === "RegularExpression" ? { name: h.name, regex: h.value } : { name: h.name, exact: h.value },
  );
}

function timestamp(o: { metadata: { creationTimestamp?: string | null } }): string {
  return o.metadata.creationTimestamp ?? "";
}

/** Shared per-route work: parents (with status), then rules via `rulesOf`, then ResolvedRefs. */
function translateRoute<R extends HTTPRoute | GRPCRoute, Rule>(
  ctx: Context,
  route: R,
  serviceWaypoints: ReadonlyMap<string, string>,
  rulesOf: (problems: BackendProblem[]) => Rule[],
): { parents: ResolvedParent[]; rules: Rule[] } | undefined {
  const routeNs = ns(route);
  const problems: BackendProblem[] = [];
  const rules = rulesOf(problems);
  const resolvedRefs =
    problems.length === 0
      ? cond("ResolvedRefs", true, "ResolvedRefs", "all references resolved")
      : cond("ResolvedRefs", false, problems[0]!.reason, problems.map((p) => p.message).join("; "));
  const parents: ResolvedParent[] = [];
  let any = false;
  for (const p of route.spec.parentRefs) {
    const r = resolveParent(ctx, routeNs, p, serviceWaypoints);
    if (!r) continue;
    any = true;
    if (r.parent) parents.push(r.parent);
    ctx.status.addParent(route.kind, routeNs, route.metadata.name, {
      parentRef: {
        kind: p.kind ?? "Gateway",
        namespace: p.namespace ?? routeNs,
        name: p.name,
        ...(p.port === undefined ? {} : { port: p.port }),
      },
      conditions: [r.accepted, resolvedRefs],
    });
  }
  if (route.spec.parentRefs.length === 0) {
    ctx.status.set(
      route.kind,
      routeNs,
      route.metadata.name,
      cond(
        "Accepted",
        false,
        "NoMatchingParent",
        "the route has no parentRefs; add a Service or a waypoint Gateway",
      ),
    );
    return undefined;
  }
  if (!any) return undefined;
  ctx.status.set(
    route.kind,
    routeNs,
    route.metadata.name,
    parents.length > 0
      ? cond("Accepted", true, "Accepted", `accepted by ${parents.length} parent(s)`)
      : cond("Accepted", false, "NoMatchingParent", "no parentRef was accepted; see the parent statuses"),
  );
  ctx.status.set(route.kind, routeNs, route.metadata.name, resolvedRefs);
  return parents.length > 0 ? { parents, rules } : undefined;
}

export function translateHttpRoutes(
  ctx: Context,
  serviceWaypoints: ReadonlyMap<string, string>,
): MeshHttpRoute[] {
  const out: MeshHttpRoute[] = [];
  for (const route of ctx.httpRoutes) {
    const routeNs = ns(route);
    const r = translateRoute(ctx, route, serviceWaypoints, (problems) =>
      route.spec.rules.map((rule) => {
        const matches =
          rule.matches && rule.matches.length > 0
            ? rule.matches
            : [{ path: { type: "PathPrefix" as const, value: "/" } }];
        const timeouts = rule.timeouts
          ? {
              ...(rule.timeouts.request ? { requestMs: durationToMs(rule.timeouts.request) } : {}),
              ...(rule.timeouts.backendRequest
                ? { backendRequestMs: durationToMs(rule.timeouts.backendRequest) }
                : {}),
            }
          : undefined;
        return {
          name: rule.name ?? "",
          matches: matches.map((m) => ({
            ...(m.path
              ? {
                  path:
                    m.path.type === "Exact"
                      ? { exact: m.path.value }
                      : m.path.type === "RegularExpression"
                        ? { regex: m.path.value }
                        : { prefix: m.path.value },
                }
              : {}),
            headers: valueMatches(m.headers),
            queryParams: valueMatches(m.queryParams),
            method: m.method ?? "",
          })),
          filters: filters(ctx, routeNs, rule.filters, problems),
          backends: (rule.backendRefs ?? []).map((b) => resolveBackend(ctx, routeNs, b, problems)),
          ...(timeouts ? { timeouts } : {}),
        };
      }),
    );
    if (!r) continue;
    out.push({
      name: route.metadata.name,
      namespace: routeNs,
      parentRefs: r.parents.map((p) => p.ref),
      hostnames: route.spec.hostnames ?? [],
      creationTimestamp: timestamp(route),
      waypoints: [...new Set(r.parents.map((p) => p.waypoint))].sort(),
      rules: r.rules,
    });
  }
  return out;
}

export function translateGrpcRoutes(
  ctx: Context,
  serviceWaypoints: ReadonlyMap<string, string>,
): MeshGrpcRoute[] {
  const out: MeshGrpcRoute[] = [];
  for (const route of ctx.grpcRoutes) {
    const routeNs = ns(route);
    const r = translateRoute(ctx, route, serviceWaypoints, (problems) =>
      route.spec.rules.map((rule) => ({
        name: rule.name ?? "",
        matches: (rule.matches ?? []).map((m) => ({
          ...(m.method
            ? {
                method: {
                  type:
                    m.method.type === "RegularExpression"
                      ? ("REGULAR_EXPRESSION" as const)
                      : ("EXACT" as const),
                  service: m.method.service ?? "",
                  method: m.method.method ?? "",
                },
              }
            : {}),
          headers: valueMatches(m.headers),
        })),
        filters: filters(ctx, routeNs, rule.filters, problems).filter(
          (f) => "requestHeaderModifier" in f || "responseHeaderModifier" in f || "requestMirror" in f,
        ),
        backends: (rule.backendRefs ?? []).map((b) => resolveBackend(ctx, routeNs, b, problems)),
      })),
    );
    if (!r) continue;
    out.push({
      name: route.metadata.name,
      namespace: routeNs,
      parentRefs: r.parents.map((p) => p.ref),
      hostnames: route.spec.hostnames ?? [],
      creationTimestamp: timestamp(route),
      waypoints: [...new Set(r.parents.map((p) => p.waypoint))].sort(),
      rules: r.rules,
    });
  }
  return out;
}

const ms = (d: string | undefined): number | undefined => (d === undefined ? undefined : durationToMs(d));

/** Drops undefined values so golden files and protobuf mapping see only what was set. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function translateTrafficPolicies(
  ctx: Context,
  serviceWaypoints: ReadonlyMap<string, string>,
): MeshTrafficPolicy[] {
  const out: MeshTrafficPolicy[] = [];
  for (const tp of ctx.trafficPolicies) {
    const tpNs = ns(tp);
    const name = tp.metadata.name;
    const svcKey = nsName(tpNs, tp.spec.targetRef.name);
    if (!ctx.services.has(svcKey)) {
      ctx.status.set(
        "TrafficPolicy",
        tpNs,
        name,
        cond(
          "Accepted",
          false,
          "TargetNotFound",
          `Service ${svcKey} does not exist; create it or fix spec.targetRef.name`,
        ),
      );
      ctx.status.set(
        "TrafficPolicy",
        tpNs,
        name,
        cond("ResolvedRefs", false, "BackendNotFound", `Service ${svcKey} does not exist`),
      );
      continue;
    }
    ctx.status.set(
      "TrafficPolicy",
      tpNs,
      name,
      cond("ResolvedRefs", true, "ResolvedRefs", `targets Service ${svcKey}`),
    );
    const waypoint = serviceWaypoints.get(svcKey);
    if (!waypoint) {
      ctx.status.set(
        "TrafficPolicy",
        tpNs,
        name,
        cond(
          "Accepted",
          false,
          "WaypointRequired",
          `Service ${svcKey} has no waypoint, so nothing applies this policy; label it weft.dev/use-waypoint=<gateway>`,
        ),
      );
      continue;
    }
    ctx.status.set(
      "TrafficPolicy",
      tpNs,
      name,
      cond("Accepted", true, "Accepted", `applied by waypoint ${waypoint}`),
    );
    out.push(trafficPolicy(ctx, tp, waypoint));
  }
  return out;
}

const UNIT_MS = { Second: 1000, Minute: 60_000, Hour: 3_600_000 } as const;

function hashKey(h: NonNullable<NonNullable<TrafficPolicy["spec"]["loadBalancer"]>["hashKey"]>) {
  if (h.header !== undefined) return { header: h.header };
  if (h.cookie !== undefined) return { cookie: h.cookie };
  if (h.queryParam !== undefined) return { queryParam: h.queryParam };
  return { sourceIp: true as const };
}

function trafficPolicy(ctx: Context, tp: TrafficPolicy, waypoint: string): MeshTrafficPolicy {
  const s = tp.spec;
  const tpNs = ns(tp);
  const od = s.outlierDetection;
  const fi = s.faultInjection;
  const lb = s.loadBalancer;
  const rl = s.localRateLimit;
  return defined({
    name: tp.metadata.name,
    namespace: tpNs,
    target: {
      kind: "SERVICE",
      namespace: tpNs,
      name: s.targetRef.name,
      hostname: ctx.hostname(tpNs, s.targetRef.name),
      port: 0,
      sectionName: "",
    },
    waypoints: [waypoint],
    connectionLimits: s.connectionLimits ? defined({ ...s.connectionLimits }) : undefined,
    outlierDetection: od
      ? defined({
          consecutive5xx: od.consecutive5xxErrors,
          intervalMs: ms(od.interval),
          baseEjectionTimeMs: ms(od.baseEjectionTime),
          maxEjectionPercent: od.maxEjectionPercent,
          disabled: od.disabled,
        })
      : undefined,
    retryBudget: s.retryBudget ? defined({ ...s.retryBudget }) : undefined,
    // `requests` per `unit`, with a bucket of `burst` (default: one unit's worth).
    localRateLimit: rl
      ? { maxTokens: rl.burst ?? rl.requests, tokensPerFill: rl.requests, fillIntervalMs: UNIT_MS[rl.unit] }
      : undefined,
    faultInjection: fi
      ? defined({
          delay: fi.delay
            ? { percent: fi.delay.percent, fixedDelayMs: durationToMs(fi.delay.fixedDelay) }
            : undefined,
          abort: fi.abort ? defined({ ...fi.abort }) : undefined,
        })
      : undefined,
    loadBalancer: lb
      ? defined({
          algorithm: lb.algorithm,
          hashKey: lb.hashKey ? hashKey(lb.hashKey) : undefined,
          ringSize: lb.ringSize,
        })
      : undefined,
    responseCaching: s.responseCaching
      ? defined({
          enabled: true as const,
          maxTtlMs: ms(s.responseCaching.maxTtl),
          maxBodyBytes: s.responseCaching.maxBodyBytes,
          maxTotalBytes: s.responseCaching.maxTotalBytes,
        })
      : undefined,
  });
}
