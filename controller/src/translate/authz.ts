// AuthorizationPolicy → istio.security.Authorization (L4, ztunnel) and weft L7 authorization
// (waypoints); PeerAuthentication → the L4 policies Istio derives from it.
//
// Where a policy is enforced:
// - `targetRefs` (a Service or a waypoint Gateway): by the waypoint, with every attribute.
// - `selector`, or no selector (namespace scope; GLOBAL in the root namespace): by ztunnel, for
//   the L4 attributes. HTTP attributes (methods, paths, hosts, non-L4 `when` keys) need a waypoint:
//   selected workloads that have a workload waypoint get the policy at that waypoint; for the
//   others weft does what Istio does — an ALLOW rule with HTTP attributes is dropped (matches
//   nothing, so the policy is stricter than written) and a DENY rule loses its HTTP conditions
//   (denies more) — and reports Accepted=False reason WaypointRequired. Fail closed, never open.
// - AUDIT never changes a decision; at L4 it runs as a dry-run DENY, which logs what matches.
import { isIP } from "node:net";
import type { AuthorizationPolicy, AuthorizationRule, PeerAuthentication } from "../k8s/objects.js";
import { cond, ns, nsName, selects, type Context } from "./context.js";
import type { WorkloadEntry } from "./workloads.js";
import type {
  MeshAuthorization,
  MeshCidr,
  MeshHeaderCondition,
  MeshL7Authorization,
  MeshL7Operation,
  MeshL7Rule,
  MeshL7Source,
  MeshMatch,
  MeshObjectRef,
  MeshServiceAccountMatch,
  MeshStringMatch,
} from "./model.js";

const L4_WHEN_KEYS = new Set([
  "source.ip",
  "source.namespace",
  "source.principal",
  "destination.ip",
  "destination.port",
]);

/** Istio's string match: `*` any, `*x` suffix, `x*` prefix, else exact. */
export function stringMatch(v: string): MeshStringMatch {
  if (v === "*") return { presence: true };
  if (v.startsWith("*")) return { suffix: v.slice(1) };
  if (v.endsWith("*")) return { prefix: v.slice(0, -1) };
  return { exact: v };
}

export function cidr(v: string): MeshCidr | undefined {
  const slash = v.indexOf("/");
  const address = slash < 0 ? v : v.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return undefined;
  const length = slash < 0 ? (family === 4 ? 32 : 128) : Number(v.slice(slash + 1));
  return { address, length };
}

function serviceAccountMatch(v: string, policyNamespace: string): MeshServiceAccountMatch {
  const at = v.indexOf("/");
  return at < 0
    ? { namespace: policyNamespace, serviceAccount: v }
    : { namespace: v.slice(0, at), serviceAccount: v.slice(at + 1) };
}

function ports(list: readonly string[] | undefined): number[] {
  return (list ?? []).map(Number).filter((p) => Number.isInteger(p) && p > 0 && p <= 65535);
}

/** Assigns only non-empty lists, so golden files show what a match really constrains. */
function put<K extends keyof MeshMatch>(m: MeshMatch, key: K, value: MeshMatch[K]): void {
  if (value !== undefined && value.length > 0) m[key] = value;
}

function cidrs(list: readonly string[] | undefined): MeshCidr[] {
  return (list ?? []).map(cidr).filter((c): c is MeshCidr => c !== undefined);
}

/** HTTP attributes a rule uses (sorted, unique); ztunnel cannot evaluate these. */
export function httpAttributes(rule: AuthorizationRule): string[] {
  const found = new Set<string>();
  for (const t of rule.to ?? []) {
    const op = t.operation;
    for (const k of ["hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"] as const) {
      if ((op[k]?.length ?? 0) > 0) found.add(k);
    }
  }
  for (const w of rule.when ?? []) if (!L4_WHEN_KEYS.has(w.key)) found.add(w.key);
  return [...found].sort();
}

function whenValues(
  key: string,
  when: NonNullable<AuthorizationRule["when"]>[number],
  negate: boolean,
): readonly string[] | undefined {
  if (when.key !== key) return undefined;
  return negate ? when.notValues : when.values;
}

/**
 * One policy rule → the `rules` of one L4 group (Istio's handleRule). Returns undefined when an
 * ALLOW rule uses HTTP attributes: it can never match at L4.
 */
function l4Group(action: "ALLOW" | "DENY", rule: AuthorizationRule, policyNamespace: string) {
  const rules: { matches: MeshMatch[] }[] = [];
  const to = (rule.to ?? []).map((t) => {
    const m: MeshMatch = {};
    put(m, "destinationPorts", ports(t.operation.ports));
    put(m, "notDestinationPorts", ports(t.operation.notPorts));
    return m;
  });
  if (to.length > 0) rules.push({ matches: to });
  const from = (rule.from ?? []).map((f) => {
    const s = f.source;
    const m: MeshMatch = {};
    put(m, "namespaces", s.namespaces?.map(stringMatch));
    put(m, "notNamespaces", s.notNamespaces?.map(stringMatch));
    put(
      m,
      "serviceAccounts",
      s.serviceAccounts?.map((v) => serviceAccountMatch(v, policyNamespace)),
    );
    put(
      m,
      "notServiceAccounts",
      s.notServiceAccounts?.map((v) => serviceAccountMatch(v, policyNamespace)),
    );
    put(m, "principals", s.principals?.map(stringMatch));
    put(m, "notPrincipals", s.notPrincipals?.map(stringMatch));
    put(m, "sourceIps", cidrs(s.ipBlocks));
    put(m, "notSourceIps", cidrs(s.notIpBlocks));
    return m;
  });
  if (from.length > 0) rules.push({ matches: from });
  for (const w of rule.when ?? []) {
    if (!L4_WHEN_KEYS.has(w.key)) continue;
    const m: MeshMatch = {};
    put(m, "namespaces", whenValues("source.namespace", w, false)?.map(stringMatch));
    put(m, "notNamespaces", whenValues("source.namespace", w, true)?.map(stringMatch));
    put(m, "principals", whenValues("source.principal", w, false)?.map(stringMatch));
    put(m, "notPrincipals", whenValues("source.principal", w, true)?.map(stringMatch));
    put(m, "sourceIps", cidrs(whenValues("source.ip", w, false)));
    put(m, "notSourceIps", cidrs(whenValues("source.ip", w, true)));
    put(m, "destinationIps", cidrs(whenValues("destination.ip", w, false)));
    put(m, "notDestinationIps", cidrs(whenValues("destination.ip", w, true)));
    put(m, "destinationPorts", ports(whenValues("destination.port", w, false)));
    put(m, "notDestinationPorts", ports(whenValues("destination.port", w, true)));
    rules.push({ matches: [m] });
  }
  if (action === "ALLOW" && httpAttributes(rule).length > 0) return undefined;
  return { rules };
}

function l4Projection(policy: AuthorizationPolicy, scope: MeshAuthorization["scope"]): MeshAuthorization {
  const action = policy.spec.action === "ALLOW" ? "ALLOW" : "DENY";
  const groups = [];
  for (const rule of policy.spec.rules) {
    const g = l4Group(action, rule, ns(policy));
    if (g) groups.push(g);
  }
  return {
    name: policy.metadata.name,
    namespace: ns(policy),
    scope,
    action,
    groups,
    ...(policy.spec.action === "AUDIT" ? { dryRun: true } : {}),
  };
}

/** `cluster.local/ns/a/sa/b` (Istio's principal form) → a match on the SPIFFE id waypoints see. */
function spiffeMatch(v: string): MeshStringMatch {
  const m = stringMatch(v);
  if ("exact" in m) return { exact: `spiffe://${m.exact}` };
  if ("prefix" in m) return { prefix: `spiffe://${m.prefix}` };
  return m;
}

const HEADER_KEY = /^request\.headers\[([^\]]+)\]$/;

/**
 * Merges an L4 `when` condition into every element of `list` (AND with the rule's from/to). Fails
 * when an element already constrains the same field: AND of two OR-lists has no wire form.
 */
function mergeWhen<T extends object, K extends keyof T>(list: T[], key: K, value: T[K] | undefined): boolean {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return true;
  if (list.length === 0) list.push({} as T);
  if (list.some((e) => e[key] !== undefined)) return false;
  for (const e of list) e[key] = value;
  return true;
}

/**
 * The waypoint form of a policy's rules. `when` keys the wire cannot express are reported in
 * `unsupported`; like HTTP attributes at L4, an ALLOW rule using one is dropped and a DENY rule
 * is kept without it, so the result is never more permissive than written.
 */
function l7Rules(
  policy: AuthorizationPolicy,
  trustDomain: string,
): { rules: MeshL7Rule[]; unsupported: string[] } {
  const policyNs = ns(policy);
  const unsupported = new Set<string>();
  const rules: MeshL7Rule[] = [];
  const saPrincipal = (v: string): MeshStringMatch => {
    const sa = serviceAccountMatch(v, policyNs);
    return { exact: `spiffe://${trustDomain}/ns/${sa.namespace}/sa/${sa.serviceAccount}` };
  };
  for (const rule of policy.spec.rules) {
    const sources: MeshL7Source[] = (rule.from ?? []).map((f) => {
      const s = f.source;
      const out: MeshL7Source = {};
      const principals = [
        ...(s.principals ?? []).map(spiffeMatch),
        ...(s.serviceAccounts ?? []).map(saPrincipal),
      ];
      const notPrincipals = [
        ...(s.notPrincipals ?? []).map(spiffeMatch),
        ...(s.notServiceAccounts ?? []).map(saPrincipal),
      ];
      if (principals.length > 0) out.principals = principals;
      if (notPrincipals.length > 0) out.notPrincipals = notPrincipals;
      if (s.namespaces) out.namespaces = s.namespaces.map(stringMatch);
      if (s.notNamespaces) out.notNamespaces = s.notNamespaces.map(stringMatch);
      if (s.ipBlocks) out.ipBlocks = cidrs(s.ipBlocks);
      if (s.notIpBlocks) out.notIpBlocks = cidrs(s.notIpBlocks);
      return out;
    });
    const operations: MeshL7Operation[] = (rule.to ?? []).map((t) => {
      const o = t.operation;
      const out: MeshL7Operation = {};
      // Host matching is case-insensitive, as DNS names are.
      if (o.hosts) out.hosts = o.hosts.map((h) => ({ ...stringMatch(h), ignoreCase: true as const }));
      if (o.notHosts)
        out.notHosts = o.notHosts.map((h) => ({ ...stringMatch(h), ignoreCase: true as const }));
      if (o.ports) out.ports = ports(o.ports);
      if (o.notPorts) out.notPorts = ports(o.notPorts);
      if (o.methods) out.methods = o.methods.map((m) => m.toUpperCase());
      if (o.notMethods) out.notMethods = o.notMethods.map((m) => m.toUpperCase());
      if (o.paths) out.paths = o.paths.map(stringMatch);
      if (o.notPaths) out.notPaths = o.notPaths.map(stringMatch);
      return out;
    });
    const headers: MeshHeaderCondition[] = [];
    let dropRule = false;
    for (const w of rule.when ?? []) {
      const header = HEADER_KEY.exec(w.key);
      const values = w.values;
      const notValues = w.notValues;
      let ok: boolean;
      if (header) {
        headers.push({
          name: header[1]!,
          values: (values ?? []).map(stringMatch),
          notValues: (notValues ?? []).map(stringMatch),
        });
        ok = true;
      } else if (w.key === "source.ip") {
        ok =
          mergeWhen(sources, "ipBlocks", values && cidrs(values)) &&
          mergeWhen(sources, "notIpBlocks", notValues && cidrs(notValues));
      } else if (w.key === "source.namespace") {
        ok =
          mergeWhen(sources, "namespaces", values?.map(stringMatch)) &&
          mergeWhen(sources, "notNamespaces", notValues?.map(stringMatch));
      } else if (w.key === "source.principal") {
        ok =
          mergeWhen(sources, "principals", values?.map(spiffeMatch)) &&
          mergeWhen(sources, "notPrincipals", notValues?.map(spiffeMatch));
      } else if (w.key === "destination.port") {
        ok =
          mergeWhen(operations, "ports", values && ports(values)) &&
          mergeWhen(operations, "notPorts", notValues && ports(notValues));
      } else {
        ok = false;
      }
      if (!ok) {
        unsupported.add(w.key);
        if (policy.spec.action === "ALLOW") dropRule = true;
      }
    }
    if (!dropRule) rules.push({ sources, operations, headers });
  }
  return { rules, unsupported: [...unsupported].sort() };
}

export interface AuthzOutput {
  readonly authorizations: MeshAuthorization[];
  readonly l7Authorizations: MeshL7Authorization[];
}

function serviceRef(ctx: Context, namespace: string, name: string): MeshObjectRef {
  return {
    kind: "SERVICE",
    namespace,
    name,
    hostname: ctx.hostname(namespace, name),
    port: 0,
    sectionName: "",
  };
}

function gatewayRef(namespace: string, name: string): MeshObjectRef {
  return { kind: "GATEWAY", namespace, name, hostname: "", port: 0, sectionName: "" };
}

const attach = (entry: WorkloadEntry, key: string): void => {
  if (!entry.workload.authorizationPolicies.includes(key)) entry.workload.authorizationPolicies.push(key);
};

/** Workloads a Service's selector picks, plus those listed for it through EndpointSlices. */
function workloadsOfService(
  ctx: Context,
  workloads: readonly WorkloadEntry[],
  namespace: string,
  name: string,
): WorkloadEntry[] {
  const key = nsName(namespace, ctx.hostname(namespace, name));
  return workloads.filter((w) => Object.hasOwn(w.workload.services, key));
}

export function translateAuthorizationPolicies(
  ctx: Context,
  workloads: readonly WorkloadEntry[],
  serviceWaypoints: ReadonlyMap<string, string>,
): AuthzOutput {
  const authorizations: MeshAuthorization[] = [];
  const l7Authorizations: MeshL7Authorization[] = [];
  const root = ctx.mesh.rootNamespace;
  for (const policy of ctx.authorizationPolicies) {
    const policyNs = ns(policy);
    const name = policy.metadata.name;
    const key = nsName(policyNs, name);
    const setStatus = (c: ReturnType<typeof cond>) =>
      ctx.status.set("AuthorizationPolicy", policyNs, name, c);
    const httpAttrs = [...new Set(policy.spec.rules.flatMap(httpAttributes))].sort();
    const action = policy.spec.action;

    if (policy.spec.targetRefs && policy.spec.targetRefs.length > 0) {
      // Waypoint-enforced policy.
      const targets: MeshObjectRef[] = [];
      const waypoints = new Set<string>();
      const unresolved: string[] = [];
      const withoutWaypoint: string[] = [];
      const failClosed: WorkloadEntry[] = [];
      let unsupportedWhen: string[] = [];
      for (const ref of policy.spec.targetRefs) {
        if (ref.kind === "Gateway") {
          const wp = ctx.waypoint(nsName(policyNs, ref.name));
          if (!wp) {
            unresolved.push(`Gateway ${ref.name}`);
            continue;
          }
          targets.push(gatewayRef(policyNs, ref.name));
          waypoints.add(wp.key);
        } else {
          const svcKey = nsName(policyNs, ref.name);
          if (!ctx.services.has(svcKey)) {
            unresolved.push(`Service ${ref.name}`);
            continue;
          }
          targets.push(serviceRef(ctx, policyNs, ref.name));
          const wp = serviceWaypoints.get(svcKey);
          if (wp) waypoints.add(wp);
          else {
            withoutWaypoint.push(ref.name);
            failClosed.push(...workloadsOfService(ctx, workloads, policyNs, ref.name));
          }
        }
      }
      setStatus(
        unresolved.length > 0
          ? cond(
              "ResolvedRefs",
              false,
              "TargetNotFound",
              `targetRefs not found: ${unresolved.join(", ")}; create them or fix the names`,
            )
          : cond("ResolvedRefs", true, "ResolvedRefs", "all targetRefs resolved"),
      );
      if (waypoints.size > 0) {
        const l7 = l7Rules(policy, ctx.mesh.trustDomain);
        l7Authorizations.push({
          name,
          namespace: policyNs,
          action,
          targets,
          rules: l7.rules,
          waypoints: [...waypoints].sort(),
        });
        if (l7.unsupported.length > 0) {
          unsupportedWhen = l7.unsupported;
        }
      }
      if (targets.length === 0) {
        setStatus(
          cond("Accepted", false, "TargetNotFound", "no targetRef resolved, so the policy applies nowhere"),
        );
      } else if (unsupportedWhen.length > 0) {
        setStatus(
          cond(
            "Accepted",
            false,
            "UnsupportedValue",
            `waypoints cannot evaluate the when keys ${unsupportedWhen.join(", ")} (or they repeat a constraint of the same rule); ` +
              "ALLOW rules using them are dropped and DENY rules are kept without them; use request.headers[...] " +
              "or source.ip/source.namespace/source.principal/destination.port once per rule",
          ),
        );
      } else if (withoutWaypoint.length > 0) {
        setStatus(
          cond(
            "Accepted",
            false,
            "WaypointRequired",
            `Service ${withoutWaypoint.join(", ")} has no waypoint, so nothing can enforce this policy's rules there; ` +
              `label the Service (or namespace) weft.dev/use-waypoint=<gateway>. Until then ztunnel enforces its L4 ` +
              `part: ALLOW rules with HTTP attributes are omitted and DENY rules lose their HTTP conditions (stricter than written)`,
          ),
        );
        if (failClosed.length > 0) {
          authorizations.push(l4Projection(policy, "WORKLOAD_SELECTOR"));
          for (const w of failClosed) attach(w, key);
        }
      } else {
        setStatus(cond("Accepted", true, "Accepted", "enforced by waypoint"));
      }
      setStatus(
        waypoints.size > 0 || failClosed.length > 0
          ? cond(
              "Programmed",
              true,
              "Programmed",
              `sent to ${waypoints.size > 0 ? [...waypoints].sort().join(", ") : "ztunnel"}`,
            )
          : cond("Programmed", false, "NoTargets", "no target resolved to a waypoint or workload"),
      );
      continue;
    }

    // ztunnel-enforced policy.
    const hasSelector = policy.spec.selector !== undefined;
    const scope: MeshAuthorization["scope"] = hasSelector
      ? "WORKLOAD_SELECTOR"
      : policyNs === root
        ? "GLOBAL"
        : "NAMESPACE";
    const selected = hasSelector
      ? workloads.filter(
          (w) =>
            w.pod !== undefined &&
            (policyNs === root || w.workload.namespace === policyNs) &&
            selects(policy.spec.selector?.matchLabels, w.pod.metadata.labels),
        )
      : [];
    // Like Istio, selector (and namespace/mesh-wide) policies are ztunnel's. HTTP attributes
    // there cannot be enforced; the L4 projection fails closed and the status says what to do.
    authorizations.push(l4Projection(policy, scope));
    for (const w of selected) attach(w, key);
    const behindWaypoint = [
      ...new Set(selected.map((w) => w.waypointKey).filter((k) => k !== undefined)),
    ].sort();
    const advice =
      behindWaypoint.length > 0
        ? `the selected workloads are behind waypoint ${behindWaypoint.join(", ")}: attach the policy to it with targetRefs (kind Service or Gateway) instead of a selector`
        : "bind a waypoint (label weft.dev/use-waypoint) and attach the policy with targetRefs to the Service";
    if (httpAttrs.length > 0) {
      const omitted =
        action === "ALLOW"
          ? "the ALLOW rules using them are omitted, so this policy is stricter than written"
          : "the rules are enforced without their HTTP conditions, so they match more than written";
      setStatus(
        cond(
          "Accepted",
          false,
          "WaypointRequired",
          `ztunnel cannot enforce HTTP attributes (found: ${httpAttrs.join(", ")}); ${omitted}. To enforce them, ${advice}`,
        ),
      );
    } else if (action === "AUDIT") {
      setStatus(
        cond(
          "Accepted",
          false,
          "WaypointRequired",
          `ztunnel runs AUDIT as a dry-run DENY (logged, never enforced); to audit requests, ${advice}`,
        ),
      );
    } else {
      setStatus(cond("Accepted", true, "Accepted", "enforced by ztunnel"));
    }
    // Programmed: does any enrolled workload (or enrolled namespace) enforce it?
    if (scope === "GLOBAL") {
      setStatus(cond("Programmed", true, "Programmed", "applies to every enrolled workload"));
    } else if (scope === "NAMESPACE") {
      setStatus(
        ctx.namespaceEnrolled(policyNs) ||
          workloads.some((w) => w.enrolled && w.workload.namespace === policyNs)
          ? cond("Programmed", true, "Programmed", `applies to enrolled workloads in namespace ${policyNs}`)
          : cond(
              "Programmed",
              false,
              "NamespaceNotEnrolled",
              `namespace ${policyNs} is not enrolled, so no ztunnel enforces this policy; label it weft.dev/dataplane-mode=ambient`,
            ),
      );
    } else if (selected.some((w) => w.enrolled)) {
      setStatus(
        cond(
          "Programmed",
          true,
          "Programmed",
          `applies to ${selected.filter((w) => w.enrolled).length} enrolled workload(s)`,
        ),
      );
    } else if (selected.length > 0) {
      setStatus(
        cond(
          "Programmed",
          false,
          "NamespaceNotEnrolled",
          `the selected workloads are not enrolled, so nothing enforces this policy; label namespace ${policyNs} weft.dev/dataplane-mode=ambient`,
        ),
      );
    } else {
      setStatus(
        cond(
          "Programmed",
          false,
          "NoMatchingWorkloads",
          "the selector matches no pod; check spec.selector.matchLabels",
        ),
      );
    }
  }
  return { authorizations, l7Authorizations };
}

// ---- PeerAuthentication ---------------------------------------------------------------------------

type Mode = "UNSET" | "STRICT" | "PERMISSIVE" | "DISABLE";

const STATIC_STRICT = "weft_converted_static_strict";
const convertedName = (name: string): string => `weft_converted_peer_authentication_${name}`;

function modeOf(pa: PeerAuthentication | undefined): Mode {
  return pa?.spec.mtls?.mode ?? "UNSET";
}
const isStrict = (m: Mode): boolean => m === "STRICT";
const isLax = (m: Mode): boolean => m === "PERMISSIVE" || m === "DISABLE";

/** Oldest first (creationTimestamp), then by name: the policy that wins a conflict, as in Istio. */
function oldest(list: readonly PeerAuthentication[]): PeerAuthentication | undefined {
  return [...list].sort((a, b) => {
    const ta = a.metadata.creationTimestamp ?? "";
    const tb = b.metadata.creationTimestamp ?? "";
    if (ta !== tb) return ta < tb ? -1 : 1;
    return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
  })[0];
}

const denyWithoutPrincipal = (destinationPorts?: number[]): MeshMatch => ({
  notPrincipals: [{ presence: true }],
  ...(destinationPorts ? { destinationPorts } : {}),
});

/**
 * Ports Istio's PeerAuthentication handling for ambient: the effective mode (workload > namespace >
 * mesh, the mesh default standing in for a missing root policy) decides whether a workload
 * references the static STRICT policy (DENY connections without a peer identity) and/or its
 * workload policy's converted form for port-level exceptions.
 */
export function translatePeerAuthentications(
  ctx: Context,
  workloads: readonly WorkloadEntry[],
): MeshAuthorization[] {
  const root = ctx.mesh.rootNamespace;
  const isWide = (pa: PeerAuthentication) =>
    !pa.spec.selector?.matchLabels || Object.keys(pa.spec.selector.matchLabels).length === 0;
  const meshPa = oldest(ctx.peerAuthentications.filter((pa) => ns(pa) === root && isWide(pa)));
  const meshMode: Mode = meshPa ? modeOf(meshPa) : ctx.mesh.defaultMtlsMode;
  const out = new Map<string, MeshAuthorization>();
  let staticStrictUsed = false;

  for (const pa of ctx.peerAuthentications) {
    const mode = modeOf(pa);
    const note = mode === "DISABLE" ? "; DISABLE is treated as PERMISSIVE: HBONE traffic is always mTLS" : "";
    const rootSelector = ns(pa) === root && !isWide(pa);
    ctx.status.set(
      "PeerAuthentication",
      ns(pa),
      pa.metadata.name,
      rootSelector
        ? cond(
            "Accepted",
            false,
            "UnsupportedValue",
            `a selector in the root namespace ${root} is ignored; move the policy to the workload's namespace`,
          )
        : cond("Accepted", true, "Accepted", `mTLS mode ${mode}${note}`),
    );
  }

  for (const w of workloads) {
    if (!w.pod) continue;
    const wNs = w.workload.namespace;
    const nsPa = oldest(ctx.peerAuthentications.filter((pa) => ns(pa) === wNs && wNs !== root && isWide(pa)));
    const wlPa = oldest(
      ctx.peerAuthentications.filter(
        (pa) =>
          ns(pa) === wNs &&
          wNs !== root &&
          !isWide(pa) &&
          selects(pa.spec.selector?.matchLabels, w.pod?.metadata.labels),
      ),
    );
    let strict = isStrict(meshMode);
    if (nsPa && modeOf(nsPa) !== "UNSET") strict = isStrict(modeOf(nsPa));
    let portPolicy: PeerAuthentication | undefined;
    if (wlPa) {
      const mode = modeOf(wlPa);
      if (isStrict(mode)) strict = true;
      if (isLax(mode)) strict = false;
      const portModes = Object.values(wlPa.spec.portLevelMtls ?? {}).map((p) => p.mode);
      if (portModes.length > 0) {
        if (isStrict(mode)) {
          if (portModes.some(isLax)) {
            portPolicy = wlPa;
            strict = false;
          }
        } else if (isLax(mode)) {
          if (portModes.some(isStrict)) portPolicy = wlPa;
        } else if (strict) {
          if (portModes.some((m) => m === "PERMISSIVE" || m === "DISABLE")) {
            portPolicy = wlPa;
            strict = false;
          }
        } else if (portModes.some(isStrict)) {
          portPolicy = wlPa;
        }
      }
    }
    if (strict) {
      staticStrictUsed = true;
      attach(w, nsName(root, STATIC_STRICT));
    }
    if (portPolicy) {
      const converted = convertPortLevel(portPolicy, nsPa, meshMode);
      if (converted) {
        out.set(nsName(converted.namespace, converted.name), converted);
        attach(w, nsName(converted.namespace, converted.name));
      }
    }
  }
  const result = [...out.values()];
  if (staticStrictUsed) {
    result.push({
      name: STATIC_STRICT,
      namespace: root,
      scope: "WORKLOAD_SELECTOR",
      action: "DENY",
      groups: [{ rules: [{ matches: [denyWithoutPrincipal()] }] }],
    });
  }
  return result;
}

function convertPortLevel(
  pa: PeerAuthentication,
  nsPa: PeerAuthentication | undefined,
  meshMode: Mode,
): MeshAuthorization | undefined {
  const mode = modeOf(pa);
  const nsMode = modeOf(nsPa);
  const rules: { matches: MeshMatch[] }[] = [];
  const groups: { rules: { matches: MeshMatch[] }[] }[] = [];
  if (isStrict(mode)) rules.push({ matches: [denyWithoutPrincipal()] });
  let foundLax = false;
  const entries = Object.entries(pa.spec.portLevelMtls ?? {}).sort(([a], [b]) => Number(a) - Number(b));
  for (const [portText, { mode: portMode }] of entries) {
    const port = Number(portText);
    if (isStrict(portMode)) {
      const inherited =
        isStrict(mode) ||
        (mode === "UNSET" && (isStrict(nsMode) || (nsMode === "UNSET" && isStrict(meshMode))));
      if (inherited) continue;
      groups.push({ rules: [{ matches: [denyWithoutPrincipal([port])] }] });
    } else if (isLax(portMode)) {
      if (isLax(mode)) continue;
      if (mode === "UNSET" && !(isStrict(nsMode) || (nsMode === "UNSET" && isStrict(meshMode)))) continue;
      foundLax = true;
      rules.push({ matches: [{ notDestinationPorts: [port] }] });
    }
  }
  if (isStrict(mode) && !foundLax) return undefined;
  if (rules.length === 0 && groups.length === 0) return undefined;
  const effectiveStrict = isStrict(nsMode) || (nsMode === "UNSET" && isStrict(meshMode));
  if (effectiveStrict && foundLax && !isStrict(mode)) rules.push({ matches: [denyWithoutPrincipal()] });
  if (rules.length > 0) groups.push({ rules });
  return {
    name: convertedName(pa.metadata.name),
    namespace: ns(pa),
    scope: "WORKLOAD_SELECTOR",
    action: "DENY",
    groups,
  };
}
