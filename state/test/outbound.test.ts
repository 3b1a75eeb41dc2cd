import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildRequest, type OutboundDecision, type OutboundFacts } from "../src/decisions/outbound.js";
import type { GatewayAddress, Service, Workload } from "../src/types.js";
import { service, sequence, snapshotOf, svcKey, workload, type Fixture } from "./fixtures.js";

const TD = "spiffe://cluster.local/ns/default/sa";

// The world most rows share: a client on node-a (r1/z1), a service "api" with VIP 10.96.0.10:80 → 8080.
const client = workload("client", { addresses: ["10.0.0.1"] });
const api = service("api", {
  vips: [{ network: "", address: "10.96.0.10" }],
  subjectAltNames: ["spiffe://cluster.local/ns/default/sa/api-san"],
});
const apiKey = svcKey(api);
const member = (name: string, ip: string, o: Partial<Workload> = {}): Workload =>
  workload(name, { addresses: [ip], services: { [apiKey]: {} }, ...o });
const apiSameNode = member("api-node", "10.0.1.1", { node: "node-a" });
const apiSameZone = member("api-zone", "10.0.1.2", { node: "node-b" });
const apiSameRegion = member("api-region", "10.0.1.3", {
  node: "node-c",
  locality: { region: "r1", zone: "z2", subzone: "s1" },
});
const apiFar = member("api-far", "10.0.1.4", {
  node: "node-d",
  locality: { region: "r2", zone: "z9", subzone: "s9" },
});

const waypointSvc = service("waypoint", {
  vips: [{ network: "", address: "10.96.0.99" }],
  ports: [{ servicePort: 15008, targetPort: 15008 }],
});
const waypointPod = workload("waypoint-pod", {
  addresses: ["10.0.9.9"],
  serviceAccount: "waypoint",
  services: { [svcKey(waypointSvc)]: {} },
});
const byHostname: GatewayAddress = {
  destination: { kind: "hostname", namespace: "default", hostname: waypointSvc.hostname },
  hboneMtlsPort: 15008,
};
const byAddress: GatewayAddress = {
  destination: { kind: "address", network: "", address: "10.0.9.9" },
  hboneMtlsPort: 15008,
};
const waypointWorld: Fixture[] = [waypointSvc, waypointPod];

const withLb = (lb: Service["loadBalancing"]): Service => ({
  ...api,
  ...(lb === undefined ? {} : { loadBalancing: lb }),
});
const failover = withLb({ mode: "FAILOVER", routingPreference: ["REGION", "ZONE", "NODE"] });
const strictNode = withLb({ mode: "STRICT", routingPreference: ["NODE"] });

interface Row {
  name: string;
  store: Fixture[];
  facts: Partial<OutboundFacts> & Pick<OutboundFacts, "destination">;
  expect: Record<string, unknown>;
}

const hbone = (o: Record<string, unknown>): Record<string, unknown> => ({
  kind: "hbone",
  viaWaypoint: false,
  ...o,
});

const rows: Row[] = [
  {
    name: "unknown source IP is denied",
    store: [api, apiSameNode],
    facts: { source: { ip: "10.0.0.200" }, destination: { ip: "10.96.0.10", port: 80 } },
    expect: { kind: "deny", reason: "UNKNOWN_SOURCE" },
  },
  {
    name: "unknown source uid is denied",
    store: [client],
    facts: { source: { uid: "nope" }, destination: { ip: "1.1.1.1", port: 443 } },
    expect: { kind: "deny", reason: "UNKNOWN_SOURCE" },
  },
  {
    name: "source found by uid",
    store: [client],
    facts: { source: { uid: client.uid }, destination: { ip: "1.1.1.1", port: 443 } },
    expect: { kind: "passthrough", address: "1.1.1.1:443" },
  },
  {
    name: "source found by a non-canonical IPv6 address",
    store: [workload("v6client", { addresses: ["fd00::1"] })],
    facts: { source: { ip: "FD00:0:0::1" }, destination: { ip: "1.1.1.1", port: 443 } },
    expect: { kind: "passthrough", address: "1.1.1.1:443" },
  },
  {
    name: "destination outside the mesh passes through",
    store: [client],
    facts: { destination: { ip: "93.184.216.34", port: 443 } },
    expect: { kind: "passthrough", address: "93.184.216.34:443" },
  },
  {
    name: "invalid destination IP is denied",
    store: [client],
    facts: { destination: { ip: "10.0.0.300", port: 80 } },
    expect: { kind: "deny", reason: "INVALID_DESTINATION" },
  },
  {
    name: "pod IP: HBONE to the pod's 15008 with the dialled port as authority",
    store: [client, apiSameZone],
    facts: { destination: { ip: "10.0.1.2", port: 9000 } },
    expect: hbone({
      nextHop: "10.0.1.2:15008",
      authority: "10.0.1.2:9000",
      expectedIdentities: [`${TD}/api-zone`],
      destinationWorkload: "api-zone",
    }),
  },
  {
    name: "pod IP of a workload with tunnelProtocol NONE: direct TCP",
    store: [client, workload("legacy", { addresses: ["10.0.2.1"], tunnelProtocol: "NONE" })],
    facts: { destination: { ip: "10.0.2.1", port: 5432 } },
    expect: { kind: "direct", address: "10.0.2.1:5432", destinationWorkload: "legacy" },
  },
  {
    name: "pod IP of a workload with a waypoint (by address): via the waypoint",
    store: [client, workload("guarded", { addresses: ["10.0.2.2"], waypoint: byAddress }), waypointPod],
    facts: { destination: { ip: "10.0.2.2", port: 8080 } },
    expect: hbone({
      nextHop: "10.0.9.9:15008",
      authority: "10.0.2.2:8080",
      expectedIdentities: [`${TD}/waypoint`],
      viaWaypoint: true,
      destinationWorkload: "guarded",
      waypoint: "waypoint-pod",
    }),
  },
  {
    name: "pod IP of a workload with a waypoint, sent by that waypoint: straight to the pod",
    store: [workload("guarded", { addresses: ["10.0.2.2"], waypoint: byAddress }), waypointPod],
    facts: { source: { ip: "10.0.9.9" }, destination: { ip: "10.0.2.2", port: 8080 } },
    expect: hbone({
      nextHop: "10.0.2.2:15008",
      authority: "10.0.2.2:8080",
      expectedIdentities: [`${TD}/guarded`],
      destinationWorkload: "guarded",
    }),
  },
  {
    name: "VIP of a service with a waypoint (by hostname): HBONE to a waypoint replica, authority VIP:port",
    store: [client, { ...api, waypoint: byHostname }, apiSameNode, ...waypointWorld],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({
      nextHop: "10.0.9.9:15008",
      authority: "10.96.0.10:80",
      expectedIdentities: [`${TD}/waypoint`],
      viaWaypoint: true,
      destinationService: api.hostname,
      waypoint: "waypoint-pod",
    }),
  },
  {
    name: "VIP of a service whose waypoint is addressed by the waypoint service's VIP",
    store: [
      client,
      {
        ...api,
        waypoint: {
          destination: { kind: "address", network: "", address: "10.96.0.99" },
          hboneMtlsPort: 15008,
        },
      },
      ...waypointWorld,
    ],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({
      nextHop: "10.0.9.9:15008",
      authority: "10.96.0.10:80",
      expectedIdentities: [`${TD}/waypoint`],
      viaWaypoint: true,
      destinationService: api.hostname,
      waypoint: "waypoint-pod",
    }),
  },
  {
    name: "VIP of a service with a waypoint, sent by the waypoint itself: endpoint pick",
    store: [{ ...api, waypoint: byHostname }, apiSameNode, ...waypointWorld],
    facts: { source: { ip: "10.0.9.9" }, destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({
      nextHop: "10.0.1.1:15008",
      authority: "10.0.1.1:8080",
      expectedIdentities: [`${TD}/api-node`, `${TD}/api-san`],
      destinationWorkload: "api-node",
      destinationService: api.hostname,
    }),
  },
  {
    name: "VIP of a service whose waypoint is unknown: denied rather than bypassing it",
    store: [client, { ...api, waypoint: byHostname }, apiSameNode],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: { kind: "deny", reason: "UNKNOWN_WAYPOINT" },
  },
  {
    name: "VIP of a service whose waypoint has no healthy replica",
    store: [client, { ...api, waypoint: byHostname }, waypointSvc, { ...waypointPod, status: "Unhealthy" }],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: { kind: "deny", reason: "NO_HEALTHY_UPSTREAM" },
  },
  {
    name: "VIP: endpoint with the service's target port, service SANs expected too",
    store: [client, api, apiSameZone],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({
      nextHop: "10.0.1.2:15008",
      authority: "10.0.1.2:8080",
      expectedIdentities: [`${TD}/api-zone`, `${TD}/api-san`],
      destinationWorkload: "api-zone",
      destinationService: api.hostname,
    }),
  },
  {
    name: "VIP on a port the service does not expose",
    store: [client, api, apiSameZone],
    facts: { destination: { ip: "10.96.0.10", port: 81 } },
    expect: { kind: "deny", reason: "NO_PORT_MAPPING" },
  },
  {
    name: "VIP with a named target port: the workload's own mapping decides",
    store: [
      client,
      { ...api, ports: [{ servicePort: 80, targetPort: 0 }] },
      member("named", "10.0.1.5", { services: { [apiKey]: { 80: 9090 } } }),
    ],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({ nextHop: "10.0.1.5:15008", authority: "10.0.1.5:9090", destinationWorkload: "named" }),
  },
  {
    name: "VIP with a named target port no endpoint defines",
    store: [client, { ...api, ports: [{ servicePort: 80, targetPort: 0 }] }, apiSameZone],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: { kind: "deny", reason: "NO_PORT_MAPPING" },
  },
  {
    name: "VIP: named-port endpoints are skipped in favour of one that defines the port",
    store: [
      client,
      { ...api, ports: [{ servicePort: 80, targetPort: 0 }] },
      member("a-no-port", "10.0.1.6"),
      member("b-port", "10.0.1.7", { services: { [apiKey]: { 80: 7070 } } }),
    ],
    facts: { destination: { ip: "10.96.0.10", port: 80 }, random: () => 0 },
    expect: hbone({ authority: "10.0.1.7:7070", destinationWorkload: "b-port" }),
  },
  {
    name: "VIP: a workload's non-zero mapping overrides the service target port",
    store: [client, api, member("override", "10.0.1.8", { services: { [apiKey]: { 80: 8443 } } })],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({ authority: "10.0.1.8:8443" }),
  },
  {
    name: "VIP: a workload mapping of 0 falls back to the service target port",
    store: [client, api, member("zero", "10.0.1.9", { services: { [apiKey]: { 80: 0 } } })],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({ authority: "10.0.1.9:8080" }),
  },
  {
    name: "VIP with only unhealthy endpoints",
    store: [client, api, { ...apiSameNode, status: "Unhealthy" }],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: { kind: "deny", reason: "NO_HEALTHY_UPSTREAM" },
  },
  {
    name: "VIP with only unhealthy endpoints under ALLOW_ALL",
    store: [
      client,
      withLb({ mode: "UNSPECIFIED", routingPreference: [], healthPolicy: "ALLOW_ALL" }),
      { ...apiSameNode, status: "Unhealthy" },
    ],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({ destinationWorkload: "api-node" }),
  },
  {
    name: "VIP with no endpoints at all",
    store: [client, api],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: { kind: "deny", reason: "NO_HEALTHY_UPSTREAM" },
  },
  {
    name: "VIP, unhealthy endpoints skipped in favour of a healthy one",
    store: [client, api, { ...apiSameNode, status: "Unhealthy" }, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 }, random: () => 0 },
    expect: hbone({ destinationWorkload: "api-far" }),
  },
  {
    name: "FAILOVER: same node preferred even when random points elsewhere",
    store: [client, failover, apiSameNode, apiSameZone, apiSameRegion, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 }, random: () => 0.99 },
    expect: hbone({ destinationWorkload: "api-node" }),
  },
  {
    name: "FAILOVER: same zone when no endpoint is on this node",
    store: [client, failover, apiSameZone, apiSameRegion, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 }, random: () => 0 },
    expect: hbone({ destinationWorkload: "api-zone" }),
  },
  {
    name: "FAILOVER: same region when no endpoint is in this zone",
    store: [client, failover, apiSameRegion, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 }, random: () => 0 },
    expect: hbone({ destinationWorkload: "api-region" }),
  },
  {
    name: "FAILOVER: falls through to another region",
    store: [client, failover, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({ destinationWorkload: "api-far" }),
  },
  {
    name: "STRICT node-local: no endpoint on this node is a denial",
    store: [client, strictNode, apiSameZone, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: { kind: "deny", reason: "NO_HEALTHY_UPSTREAM" },
  },
  {
    name: "STRICT node-local: the endpoint on this node",
    store: [client, strictNode, apiSameZone, apiSameNode, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 }, random: () => 0.99 },
    expect: hbone({ destinationWorkload: "api-node" }),
  },
  {
    name: "no load-balancing policy: locality ignored, random picks among all (sorted by uid)",
    store: [client, api, apiSameNode, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 }, random: () => 0.99 },
    expect: hbone({ destinationWorkload: "api-node" }),
  },
  {
    name: "no load-balancing policy: random 0 picks the first by uid",
    store: [client, api, apiSameNode, apiFar],
    facts: { destination: { ip: "10.96.0.10", port: 80 }, random: () => 0 },
    expect: hbone({ destinationWorkload: "api-far" }),
  },
  {
    name: "VIP whose endpoint does not terminate HBONE: direct to pod:targetPort",
    store: [client, api, member("plain", "10.0.1.10", { tunnelProtocol: "NONE" })],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: {
      kind: "direct",
      address: "10.0.1.10:8080",
      destinationWorkload: "plain",
      destinationService: api.hostname,
    },
  },
  {
    name: "VIP without a waypoint whose chosen endpoint has one: via the workload waypoint, authority VIP:port",
    store: [client, api, member("wl-wp", "10.0.1.11", { waypoint: byAddress }), waypointPod],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: hbone({
      nextHop: "10.0.9.9:15008",
      authority: "10.96.0.10:80",
      viaWaypoint: true,
      destinationWorkload: "wl-wp",
      destinationService: api.hostname,
      waypoint: "waypoint-pod",
    }),
  },
  {
    name: "IPv6 VIP: the dual-stack endpoint's IPv6 address, bracketed",
    store: [
      workload("client6", { addresses: ["fd00::1"] }),
      { ...api, vips: [{ network: "", address: "fd00:96::10" }] },
      member("dual", "10.0.1.12", { addresses: ["10.0.1.12", "fd00:1::12"] }),
    ],
    facts: { source: { ip: "fd00::1" }, destination: { ip: "fd00:96:0::10", port: 80 } },
    expect: hbone({
      nextHop: "[fd00:1::12]:15008",
      authority: "[fd00:1::12]:8080",
      destinationWorkload: "dual",
    }),
  },
  {
    name: "IPv4-mapped IPv6 destination is the IPv4 VIP",
    store: [client, api, apiSameNode],
    facts: { destination: { ip: "::ffff:10.96.0.10", port: 80 } },
    expect: hbone({ authority: "10.0.1.1:8080", destinationWorkload: "api-node" }),
  },
  {
    name: "endpoints on another network are not reachable without a gateway",
    store: [client, api, member("remote", "10.0.1.13", { network: "net2" })],
    facts: { destination: { ip: "10.96.0.10", port: 80 } },
    expect: { kind: "deny", reason: "NO_HEALTHY_UPSTREAM" },
  },
  {
    name: "a pod IP known only on another network passes through",
    store: [client, workload("remote", { addresses: ["10.0.3.1"], network: "net2" })],
    facts: { destination: { ip: "10.0.3.1", port: 80 } },
    expect: { kind: "passthrough", address: "10.0.3.1:80" },
  },
  {
    name: "hbonePort override is used for the next hop",
    store: [client, apiSameZone],
    facts: { destination: { ip: "10.0.1.2", port: 9000 }, hbonePort: 16008 },
    expect: hbone({ nextHop: "10.0.1.2:16008", authority: "10.0.1.2:9000" }),
  },
];

/** The comparable essence of a decision: names instead of objects, only the fields a row states. */
function project(d: OutboundDecision, keys: readonly string[]): Record<string, unknown> {
  const flat: Record<string, unknown> = { ...d };
  if (d.kind === "hbone" || d.kind === "direct") {
    flat.destinationWorkload = d.destinationWorkload?.name;
    flat.destinationService = d.destinationService?.hostname;
  }
  if (d.kind === "hbone") flat.waypoint = d.waypoint?.name;
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = flat[k];
  return out;
}

void describe("buildRequest", () => {
  for (const row of rows) {
    void it(row.name, () => {
      const snapshot = snapshotOf(row.store);
      const facts: OutboundFacts = {
        source: { uid: client.uid },
        network: "",
        random: sequence(0),
        ...row.facts,
      };
      const decision = buildRequest(snapshot, facts);
      assert.deepEqual(
        project(decision, Object.keys(row.expect)),
        row.expect,
        JSON.stringify(decision, null, 1),
      );
      if (decision.kind === "deny") assert.ok(decision.detail.length > 0, "a denial says why");
    });
  }

  void it("has a table of at least 30 cases", () => {
    assert.ok(rows.length >= 30);
  });

  void it("picks endpoints uniformly by the injected random value", () => {
    const snapshot = snapshotOf([client, api, apiSameNode, apiSameZone, apiSameRegion, apiFar]);
    const picks = [0, 0.25, 0.5, 0.75].map((r) => {
      const d = buildRequest(snapshot, {
        source: { uid: client.uid },
        network: "",
        destination: { ip: "10.96.0.10", port: 80 },
        random: () => r,
      });
      assert.equal(d.kind, "hbone");
      return d.kind === "hbone" ? d.destinationWorkload?.name : undefined;
    });
    // Endpoints are ordered by uid, so each quarter of [0,1) maps to one of the four.
    assert.deepEqual(picks, ["api-far", "api-node", "api-region", "api-zone"]);
  });
});
