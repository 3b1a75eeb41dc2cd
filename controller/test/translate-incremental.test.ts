// The incremental translator must publish exactly what a full translation would. Property test:
// start from every golden fixture (waypoints, EndpointSlices, policies, PeerAuthentications...),
// apply random pod changes — add, relabel with labels the fixture's selectors use, move to
// another node, change IP (including to an IP an EndpointSlice lists), flip readiness, delete —
// and after every step compare the resources the increments produced with a full translation's,
// byte for byte. Table tests then pin which changes take the pod path and which fall back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { TYPE_URL } from "@weft/api";
import { loadConfigDir } from "../src/source/index.js";
import { meshSettingsOf, type K8sObject, type Pod } from "../src/k8s/index.js";
import { IncrementalTranslator, toXdsResources, translate } from "../src/translate/index.js";

const fixtures = fileURLToPath(new URL("../../test/fixtures/", import.meta.url));
const cases = readdirSync(fixtures, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

type Published = Map<string, Map<string, string>>;

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Every resource of a full translation, type → name → bytes (hex, so deepEqual prints diffs). */
function fullResources(objects: readonly K8sObject[]): Published {
  const out: Published = new Map();
  for (const [typeUrl, list] of toXdsResources(translate({ objects, mesh: meshSettingsOf(objects) }))) {
    out.set(
      typeUrl,
      new Map(list.map((r) => [r.name, `${hex(r.resource.value)}|${r.waypoints?.join(",") ?? ""}`])),
    );
  }
  return out;
}

/** Applies one incremental update to `published` the way the cache does. */
function apply(published: Published, t: IncrementalTranslator, objects: readonly K8sObject[]): string {
  const u = t.update({ objects, mesh: meshSettingsOf(objects) });
  if (u.kind === "full") {
    published.clear();
    for (const [typeUrl, list] of u.resources) {
      published.set(
        typeUrl,
        new Map(list.map((r) => [r.name, `${hex(r.resource.value)}|${r.waypoints?.join(",") ?? ""}`])),
      );
    }
    return `full: ${u.reason}`;
  }
  let m = published.get(u.typeUrl);
  if (m === undefined) published.set(u.typeUrl, (m = new Map<string, string>()));
  for (const name of u.removes) m.delete(name);
  for (const r of u.upserts) m.set(r.name, `${hex(r.resource.value)}|${r.waypoints?.join(",") ?? ""}`);
  return "pods";
}

interface Palette {
  readonly namespaces: readonly string[];
  readonly labels: readonly Record<string, string>[];
  readonly nodes: readonly string[];
  readonly ips: readonly string[];
}

/** Values the fixture's own objects use, so random pods hit its selectors, slices and nodes. */
function paletteOf(objects: readonly K8sObject[]): Palette {
  const namespaces = new Set<string>(["default"]);
  const labels: Record<string, string>[] = [{}, { app: "fresh" }];
  const nodes = new Set<string>(["node-x"]);
  const ips = new Set<string>(["10.250.0.1", "10.250.0.2", "fd00::250:1"]);
  for (const o of objects) {
    if (o.kind === "Namespace") namespaces.add(o.metadata.name);
    if (o.kind === "Node") nodes.add(o.metadata.name);
    if (o.kind === "Pod") {
      labels.push({ ...(o.metadata.labels ?? {}) });
      if (o.spec.nodeName !== undefined) nodes.add(o.spec.nodeName);
    }
    if (o.kind === "Service" && o.spec.selector !== undefined) labels.push({ ...o.spec.selector });
    if (o.kind === "AuthorizationPolicy" && o.spec.selector?.matchLabels !== undefined) {
      labels.push({ ...o.spec.selector.matchLabels });
    }
    if (o.kind === "PeerAuthentication" && o.spec.selector?.matchLabels !== undefined) {
      labels.push({ ...o.spec.selector.matchLabels });
    }
    if (o.kind === "EndpointSlice")
      for (const ep of o.endpoints ?? []) for (const ip of ep.addresses) ips.add(ip);
  }
  return { namespaces: [...namespaces], labels, nodes: [...nodes], ips: [...ips] };
}

type Step =
  | { op: "add"; ns: number; labels: number; node: number; ip: number; ready: boolean }
  | { op: "relabel"; pod: number; labels: number }
  | { op: "move"; pod: number; node: number }
  | { op: "readdress"; pod: number; ip: number }
  | { op: "ready"; pod: number; ready: boolean }
  | { op: "delete"; pod: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant("add" as const),
    ns: fc.nat(),
    labels: fc.nat(),
    node: fc.nat(),
    ip: fc.nat(),
    ready: fc.boolean(),
  }),
  fc.record({ op: fc.constant("relabel" as const), pod: fc.nat(), labels: fc.nat() }),
  fc.record({ op: fc.constant("move" as const), pod: fc.nat(), node: fc.nat() }),
  fc.record({ op: fc.constant("readdress" as const), pod: fc.nat(), ip: fc.nat() }),
  fc.record({ op: fc.constant("ready" as const), pod: fc.nat(), ready: fc.boolean() }),
  fc.record({ op: fc.constant("delete" as const), pod: fc.nat() }),
);

const pick = <T>(list: readonly T[], i: number): T => list[i % list.length]!;

function withPod(
  objects: readonly K8sObject[],
  index: number,
  change: (p: Pod) => Pod | undefined,
): K8sObject[] {
  const pods = objects.filter((o): o is Pod => o.kind === "Pod");
  if (pods.length === 0) return [...objects];
  const target = pick(pods, index);
  const out: K8sObject[] = [];
  for (const o of objects) {
    if (o !== target) out.push(o);
    else {
      const next = change(target);
      if (next !== undefined) out.push(next);
    }
  }
  return out;
}

function applyStep(objects: readonly K8sObject[], s: Step, palette: Palette, serial: number): K8sObject[] {
  const ready = (r: boolean) => [{ type: "Ready", status: r ? ("True" as const) : ("False" as const) }];
  switch (s.op) {
    case "add": {
      const pod: Pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: `gen-${serial}`,
          namespace: pick(palette.namespaces, s.ns),
          labels: { ...pick(palette.labels, s.labels) },
        },
        spec: {
          nodeName: pick(palette.nodes, s.node),
          serviceAccountName: "gen",
          containers: [{ name: "c" }],
        },
        status: { phase: "Running", podIP: pick(palette.ips, s.ip), conditions: ready(s.ready) },
      };
      return [...objects, pod];
    }
    case "relabel":
      return withPod(objects, s.pod, (p) => ({
        ...p,
        metadata: { ...p.metadata, labels: { ...pick(palette.labels, s.labels) } },
      }));
    case "move":
      return withPod(objects, s.pod, (p) => ({
        ...p,
        spec: { ...p.spec, nodeName: pick(palette.nodes, s.node) },
      }));
    case "readdress":
      return withPod(objects, s.pod, (p) => ({
        ...p,
        status: { ...p.status, podIP: pick(palette.ips, s.ip), podIPs: [{ ip: pick(palette.ips, s.ip) }] },
      }));
    case "ready":
      return withPod(objects, s.pod, (p) => ({ ...p, status: { ...p.status, conditions: ready(s.ready) } }));
    case "delete":
      return withPod(objects, s.pod, () => undefined);
  }
}

for (const name of cases) {
  void test(`incremental translation equals a full one after random pod changes: ${name}`, async () => {
    const loaded = await loadConfigDir(`${fixtures}${name}`);
    assert.deepEqual(loaded.errors, [], `fixture ${name} must load`);
    const base = loaded.objects;
    const palette = paletteOf(base);
    let podSteps = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), (steps) => {
        const t = new IncrementalTranslator();
        const published: Published = new Map();
        let objects: K8sObject[] = [...base];
        apply(published, t, objects);
        steps.forEach((s, i) => {
          objects = applyStep(objects, s, palette, i);
          const how = apply(published, t, objects);
          if (how === "pods") podSteps++;
          const expected = fullResources(objects);
          for (const typeUrl of new Set([...expected.keys(), ...published.keys()])) {
            assert.deepEqual(
              published.get(typeUrl) ?? new Map(),
              expected.get(typeUrl) ?? new Map(),
              `${name}: after step ${i} (${JSON.stringify(s)}, ${how}) ${typeUrl} differs from a full translation`,
            );
          }
        });
      }),
      { numRuns: 40, seed: 4242 },
    );
    // The property would hold trivially if every step fell back to a full translation.
    assert.ok(podSteps > 0, `${name}: no step took the pod-by-pod path`);
  });
}

// ---- which path a change takes ---------------------------------------------------------------------

function world(): K8sObject[] {
  const ns = (name: string): K8sObject => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels: { "weft.dev/dataplane-mode": "ambient" } },
  });
  const pod = (name: string, app: string, ip: string): Pod => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "shop", labels: { app } },
    spec: { nodeName: "n1", serviceAccountName: app, containers: [{ name: "c" }] },
    status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] },
  });
  return [
    ns("shop"),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: "shop" },
      spec: { clusterIP: "10.96.0.10", selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "ext", namespace: "shop" },
      spec: { clusterIP: "10.96.0.11", ports: [{ name: "http", port: 80 }] },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "ext-1", namespace: "shop", labels: { "kubernetes.io/service-name": "ext" } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080 }],
      endpoints: [
        { addresses: ["10.1.0.99"] },
        { addresses: ["10.1.0.50"], targetRef: { kind: "Pod", name: "named", namespace: "shop" } },
      ],
    },
    {
      apiVersion: "weft.dev/v1alpha1",
      kind: "AuthorizationPolicy",
      metadata: { name: "db-allow", namespace: "shop" },
      spec: {
        selector: { matchLabels: { app: "db" } },
        action: "ALLOW",
        rules: [{ from: [{ source: { namespaces: ["shop"] } }] }],
      },
    },
    pod("web-1", "web", "10.1.0.1"),
    pod("db-1", "db", "10.1.0.2"),
  ] as K8sObject[];
}

function run(change: (objects: K8sObject[]) => K8sObject[]): string {
  const t = new IncrementalTranslator();
  const objects = world();
  const first = t.update({ objects, mesh: meshSettingsOf(objects) });
  assert.equal(first.kind, "full");
  const next = change(objects);
  const u = t.update({ objects: next, mesh: meshSettingsOf(next) });
  return u.kind === "full"
    ? `full: ${u.reason}`
    : `pods ${u.pods}: +${u.upserts.length} -${u.removes.length}`;
}

const newPod = (name: string, app: string, ip: string): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "shop", labels: { app } },
  spec: { nodeName: "n1", serviceAccountName: app, containers: [{ name: "c" }] },
  status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] },
});

const table: readonly {
  readonly name: string;
  readonly change: (o: K8sObject[]) => K8sObject[];
  readonly expect: string;
}[] = [
  { name: "nothing changed", change: (o) => [...o], expect: "pods 0: +0 -0" },
  {
    name: "a pod is added",
    change: (o) => [...o, newPod("web-2", "web", "10.1.0.3")],
    expect: "pods 1: +1 -0",
  },
  {
    name: "a pod is deleted",
    change: (o) => o.filter((x) => x.metadata.name !== "web-1"),
    expect: "pods 1: +0 -1",
  },
  {
    name: "a pod without an IP yet is added (no workload)",
    change: (o) => [...o, { ...newPod("pending", "web", "x"), status: { phase: "Pending" } }],
    expect: "pods 1: +0 -0",
  },
  {
    name: "a second pod the policy selects",
    change: (o) => [...o, newPod("db-2", "db", "10.1.0.4")],
    expect: "pods 1: +1 -0",
  },
  {
    name: "the only pod the policy selects is relabelled",
    change: (o) => o.map((x) => (x.metadata.name === "db-1" ? newPod("db-1", "web", "10.1.0.2") : x)),
    expect: "full: policy shop/db-allow loses its last workload",
  },
  {
    name: "a Service changes",
    change: (o) =>
      o.map((x) =>
        x.kind === "Service" && x.metadata.name === "web"
          ? { ...x, spec: { ...x.spec, clusterIP: "10.96.0.20" } }
          : x,
      ),
    expect: "full: Service/shop/web changed",
  },
  {
    name: "a pod takes an IP an EndpointSlice lists",
    change: (o) => [...o, newPod("squatter", "web", "10.1.0.99")],
    expect: "full: pod shop/squatter is named by an EndpointSlice",
  },
  {
    name: "the pod an EndpointSlice names appears",
    change: (o) => [...o, newPod("named", "web", "10.1.0.50")],
    expect: "full: pod shop/named is named by an EndpointSlice",
  },
  {
    name: "a non-pod object is removed",
    change: (o) => o.filter((x) => x.kind !== "AuthorizationPolicy"),
    expect: "full: AuthorizationPolicy/shop/db-allow removed",
  },
];

for (const row of table) {
  void test(`incremental translation path: ${row.name}`, () => {
    assert.equal(run(row.change), row.expect);
  });
}

void test("incremental translation: many pods at once are translated in full", () => {
  const got = run((o) => [
    ...o,
    ...Array.from({ length: 70 }, (_, i) => newPod(`bulk-${i}`, "web", `10.2.0.${i + 1}`)),
  ]);
  assert.equal(got, "full: 70 pods changed");
});

void test("incremental translation: reconcile re-translates the last input and finds nothing to change", () => {
  const t = new IncrementalTranslator();
  const objects = world();
  t.update({ objects, mesh: meshSettingsOf(objects) });
  const next = [...objects, newPod("web-2", "web", "10.1.0.3")];
  assert.equal(t.update({ objects: next, mesh: meshSettingsOf(next) }).kind, "pods");
  const r = t.reconcile();
  assert.ok(r);
  assert.equal(r.reason, "reconcile");
  const names = r.resources.get(TYPE_URL.Address)!.map((x) => x.name);
  assert.ok(names.includes("Kubernetes//Pod/shop/web-2"));
  assert.deepEqual(t.counts, { full: 2, pods: 1 });
});

void test("incremental translation: a source's delta gives the same update as finding the change", () => {
  const changes: {
    name: string;
    next: (o: K8sObject[]) => K8sObject[];
    delta: (o: K8sObject[], n: K8sObject[]) => { upserted: K8sObject[]; removed: K8sObject[] };
  }[] = [
    {
      name: "add",
      next: (o) => [...o, newPod("web-2", "web", "10.1.0.3")],
      delta: (_o, n) => ({ upserted: [n[n.length - 1]!], removed: [] }),
    },
    {
      name: "delete",
      next: (o) => o.filter((x) => x.metadata.name !== "web-1"),
      delta: (o) => ({ upserted: [], removed: o.filter((x) => x.metadata.name === "web-1") }),
    },
    {
      name: "relabel into the policy",
      next: (o) => o.map((x) => (x.metadata.name === "web-1" ? newPod("web-1", "db", "10.1.0.1") : x)),
      delta: (_o, n) => ({ upserted: n.filter((x) => x.metadata.name === "web-1"), removed: [] }),
    },
    {
      name: "a Service in the delta",
      next: (o) => o.map((x) => (x.kind === "Service" && x.metadata.name === "web" ? { ...x } : x)),
      delta: (_o, n) => ({
        upserted: n.filter((x) => x.kind === "Service" && x.metadata.name === "web"),
        removed: [],
      }),
    },
  ];
  const summary = (u: ReturnType<IncrementalTranslator["update"]>): unknown =>
    u.kind === "full"
      ? { kind: u.kind, reason: u.reason }
      : {
          kind: u.kind,
          pods: u.pods,
          upserts: u.upserts.map((r) => [r.name, hex(r.resource.value)]),
          removes: u.removes,
        };
  for (const c of changes) {
    const objects = world();
    const next = c.next(objects);
    const found = new IncrementalTranslator();
    found.update({ objects, mesh: meshSettingsOf(objects) });
    const told = new IncrementalTranslator();
    told.update({ objects, mesh: meshSettingsOf(objects) });
    assert.deepEqual(
      summary(told.update({ objects: next, mesh: meshSettingsOf(next) }, c.delta(objects, next))),
      summary(found.update({ objects: next, mesh: meshSettingsOf(next) })),
      c.name,
    );
    // And the state after it is the same: the next change is translated alike.
    const after = [...next, newPod("late", "web", "10.1.0.77")];
    assert.deepEqual(
      summary(told.update({ objects: after, mesh: meshSettingsOf(after) })),
      summary(found.update({ objects: after, mesh: meshSettingsOf(after) })),
      `${c.name}, then one more`,
    );
  }
});
