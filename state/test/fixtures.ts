// Builders for test data: a complete resource from the few fields a case cares about.
import assert from "node:assert/strict";
import { applyDelta, emptySnapshot, type Snapshot, type StoreOptions } from "../src/store.js";
import type { Authorization, Match, PeerAuthentication, Resource, Service, Workload } from "../src/types.js";

export const NS = "default";

export function workload(name: string, overrides: Partial<Workload> = {}): Workload {
  const namespace = overrides.namespace ?? NS;
  return {
    uid: `cluster1//Pod/${namespace}/${name}`,
    name,
    namespace,
    addresses: [],
    network: "",
    node: "node-a",
    serviceAccount: name,
    trustDomain: "cluster.local",
    tunnelProtocol: "HBONE",
    locality: { region: "r1", zone: "z1", subzone: "s1" },
    services: {},
    authorizationPolicies: [],
    status: "Healthy",
    canonicalName: name,
    workloadName: name,
    workloadType: "POD",
    clusterId: "cluster1",
    ...overrides,
  };
}

export function service(name: string, overrides: Partial<Service> = {}): Service {
  const namespace = overrides.namespace ?? NS;
  return {
    name,
    namespace,
    hostname: `${name}.${namespace}.svc.cluster.local`,
    vips: [],
    ports: [{ servicePort: 80, targetPort: 8080 }],
    subjectAltNames: [],
    ...overrides,
  };
}

export function svcKey(s: Service): string {
  return `${s.namespace}/${s.hostname}`;
}

export function authorization(name: string, overrides: Partial<Authorization> = {}): Authorization {
  return { name, namespace: NS, scope: "NAMESPACE", action: "ALLOW", rules: [], dryRun: false, ...overrides };
}

/** A policy whose single rule has one clause with the given matches (ANY of them). */
export function policy(
  name: string,
  action: Authorization["action"],
  matches: Match[],
  overrides: Partial<Authorization> = {},
): Authorization {
  return authorization(name, { action, rules: [{ clauses: [{ matches }] }], ...overrides });
}

export function peerAuthentication(
  name: string,
  overrides: Partial<PeerAuthentication> = {},
): PeerAuthentication {
  return { name, namespace: NS, scope: "NAMESPACE", mode: "STRICT", ...overrides };
}

export type Fixture = Workload | Service | Authorization | PeerAuthentication | Resource;

export function asResource(x: Fixture): Resource {
  if (
    "kind" in x &&
    typeof x.kind === "string" &&
    ("workload" in x || "service" in x || "authorization" in x || "peerAuthentication" in x)
  ) {
    return x;
  }
  if ("uid" in x) return { kind: "workload", workload: x };
  if ("hostname" in x) return { kind: "service", service: x };
  if ("action" in x) return { kind: "authorization", authorization: x };
  return { kind: "peerAuthentication", peerAuthentication: x };
}

/** A snapshot holding exactly these resources; fails the test if any is rejected. */
export function snapshotOf(items: readonly Fixture[], options: Partial<StoreOptions> = {}): Snapshot {
  const { snapshot, errors } = applyDelta(emptySnapshot(options), { upsert: items.map(asResource) });
  assert.deepEqual(
    errors.map((e) => e.error.message),
    [],
  );
  return snapshot;
}

/** A deterministic stand-in for Math.random cycling through the given values. */
export function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}
