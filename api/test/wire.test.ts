// Wire compatibility with the published Istio/Envoy schemas: the expected bytes below are
// computed by hand from the upstream field numbers and wire types (see the .proto headers for
// the sources), not produced by our own encoder, so a renumbered or retyped field fails here.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary, equals } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import {
  AddressSchema,
  AuthorizationSchema,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  IstioCertificateRequestSchema,
  IstioCertificateResponseSchema,
  ServiceSchema,
  StatusSchema,
  TunnelProtocol,
  WorkloadSchema,
  packAny,
  security,
  workload,
  xds,
  core,
} from "@weft/api";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const bytes = (...parts: (number | string)[]): string =>
  parts
    .map((p) => (typeof p === "number" ? p.toString(16).padStart(2, "0") : Buffer.from(p).toString("hex")))
    .join("");

void describe("field numbers match the published schemas", () => {
  // [schema, field local name, number] — one row per field we verified upstream.
  const table: [DescMessage, string, number][] = [
    [workload.WorkloadSchema, "uid", 20],
    [workload.WorkloadSchema, "name", 1],
    [workload.WorkloadSchema, "namespace", 2],
    [workload.WorkloadSchema, "addresses", 3],
    [workload.WorkloadSchema, "hostname", 21],
    [workload.WorkloadSchema, "network", 4],
    [workload.WorkloadSchema, "tunnelProtocol", 5],
    [workload.WorkloadSchema, "trustDomain", 6],
    [workload.WorkloadSchema, "serviceAccount", 7],
    [workload.WorkloadSchema, "waypoint", 8],
    [workload.WorkloadSchema, "networkGateway", 19],
    [workload.WorkloadSchema, "node", 9],
    [workload.WorkloadSchema, "canonicalName", 10],
    [workload.WorkloadSchema, "canonicalRevision", 11],
    [workload.WorkloadSchema, "workloadType", 12],
    [workload.WorkloadSchema, "workloadName", 13],
    [workload.WorkloadSchema, "nativeTunnel", 14],
    [workload.WorkloadSchema, "applicationTunnel", 23],
    [workload.WorkloadSchema, "services", 22],
    [workload.WorkloadSchema, "authorizationPolicies", 16],
    [workload.WorkloadSchema, "status", 17],
    [workload.WorkloadSchema, "clusterId", 18],
    [workload.WorkloadSchema, "locality", 24],
    [workload.WorkloadSchema, "networkMode", 25],
    [workload.WorkloadSchema, "extensions", 26],
    [workload.WorkloadSchema, "capacity", 27],
    [workload.ServiceSchema, "name", 1],
    [workload.ServiceSchema, "namespace", 2],
    [workload.ServiceSchema, "hostname", 3],
    [workload.ServiceSchema, "addresses", 4],
    [workload.ServiceSchema, "ports", 5],
    [workload.ServiceSchema, "subjectAltNames", 6],
    [workload.ServiceSchema, "waypoint", 7],
    [workload.ServiceSchema, "loadBalancing", 8],
    [workload.ServiceSchema, "ipFamilies", 9],
    [workload.ServiceSchema, "extensions", 10],
    [workload.ServiceSchema, "canonical", 11],
    [workload.GatewayAddressSchema, "hostname", 1],
    [workload.GatewayAddressSchema, "address", 2],
    [workload.GatewayAddressSchema, "hboneMtlsPort", 3],
    [workload.NetworkAddressSchema, "network", 1],
    [workload.NetworkAddressSchema, "address", 2],
    [workload.PortSchema, "servicePort", 1],
    [workload.PortSchema, "targetPort", 2],
    [workload.LoadBalancingSchema, "routingPreference", 1],
    [workload.LoadBalancingSchema, "mode", 2],
    [workload.LoadBalancingSchema, "healthPolicy", 3],
    [security.AuthorizationSchema, "groups", 5],
    [security.AuthorizationSchema, "dryRun", 6],
    [security.GroupSchema, "rules", 1],
    [security.RulesSchema, "matches", 2],
    [security.MatchSchema, "serviceAccounts", 11],
    [security.MatchSchema, "notServiceAccounts", 12],
    [security.MatchSchema, "destinationPorts", 9],
    [security.MatchSchema, "notDestinationPorts", 10],
    [security.ServiceAccountMatchSchema, "serviceAccount", 2],
    [security.StringMatchSchema, "presence", 4],
    [xds.DeltaDiscoveryRequestSchema, "node", 1],
    [xds.DeltaDiscoveryRequestSchema, "typeUrl", 2],
    [xds.DeltaDiscoveryRequestSchema, "resourceNamesSubscribe", 3],
    [xds.DeltaDiscoveryRequestSchema, "resourceNamesUnsubscribe", 4],
    [xds.DeltaDiscoveryRequestSchema, "initialResourceVersions", 5],
    [xds.DeltaDiscoveryRequestSchema, "responseNonce", 6],
    [xds.DeltaDiscoveryRequestSchema, "errorDetail", 7],
    [xds.DeltaDiscoveryResponseSchema, "systemVersionInfo", 1],
    [xds.DeltaDiscoveryResponseSchema, "resources", 2],
    [xds.DeltaDiscoveryResponseSchema, "typeUrl", 4],
    [xds.DeltaDiscoveryResponseSchema, "nonce", 5],
    [xds.DeltaDiscoveryResponseSchema, "removedResources", 6],
    [xds.ResourceSchema, "version", 1],
    [xds.ResourceSchema, "resource", 2],
    [xds.ResourceSchema, "name", 3],
    [xds.ResourceSchema, "aliases", 4],
    [xds.ResourceSchema, "ttl", 6],
    [core.NodeSchema, "id", 1],
    [core.NodeSchema, "cluster", 2],
    [core.NodeSchema, "metadata", 3],
    [core.NodeSchema, "locality", 4],
    [core.NodeSchema, "userAgentName", 6],
    [core.NodeSchema, "userAgentVersion", 7],
    [core.NodeSchema, "clientFeatures", 10],
    [IstioCertificateRequestSchema, "csr", 1],
    [IstioCertificateRequestSchema, "validityDuration", 3],
    [IstioCertificateRequestSchema, "metadata", 4],
    [IstioCertificateResponseSchema, "certChain", 1],
    [StatusSchema, "details", 3],
  ];
  for (const [schema, name, number] of table) {
    void it(`${schema.typeName}.${name} = ${number}`, () => {
      const field = schema.fields.find((f) => f.localName === name);
      assert.ok(field, `${schema.typeName} has no field ${name}`);
      assert.equal(field.number, number);
    });
  }
});

void describe("encoding produces the upstream tags", () => {
  void it("Workload.uid is field 20, length-delimited: tag varint 0xa2 0x01", () => {
    const w = create(WorkloadSchema, { uid: "u" });
    assert.equal(hex(toBinary(WorkloadSchema, w)), bytes(0xa2, 0x01, 1, "u"));
  });

  void it("Workload.hostname is field 21 and tunnel_protocol field 5 (varint)", () => {
    assert.equal(
      hex(toBinary(WorkloadSchema, create(WorkloadSchema, { hostname: "h" }))),
      bytes(0xaa, 0x01, 1, "h"),
    );
    assert.equal(
      hex(toBinary(WorkloadSchema, create(WorkloadSchema, { tunnelProtocol: TunnelProtocol.HBONE }))),
      bytes(0x28, 0x01),
    );
  });

  void it("Workload.addresses is repeated bytes field 3", () => {
    const w = create(WorkloadSchema, { addresses: [new Uint8Array([10, 0, 0, 1])] });
    assert.equal(hex(toBinary(WorkloadSchema, w)), bytes(0x1a, 4, 10, 0, 0, 1));
  });

  void it("Workload.services is map field 22 with key 1 and PortList value 2", () => {
    const w = create(WorkloadSchema, {
      services: {
        "ns/h": create(workload.PortListSchema, { ports: [{ servicePort: 80, targetPort: 8080 }] }),
      },
    });
    // PortList{ports: Port{1: 80, 2: 8080}}: 0a 05 08 50 10 90 3f
    const portList = bytes(0x0a, 5, 0x08, 0x50, 0x10, 0x90, 0x3f);
    const entry = bytes(0x0a, 4, "ns/h", 0x12, 7) + portList;
    assert.equal(hex(toBinary(WorkloadSchema, w)), bytes(0xb2, 0x01, entry.length / 2) + entry);
  });

  void it("Address.workload is oneof field 1 and Address.service field 2", () => {
    const a = create(AddressSchema, {
      type: { case: "workload", value: create(WorkloadSchema, { uid: "u" }) },
    });
    assert.equal(hex(toBinary(AddressSchema, a)), bytes(0x0a, 4, 0xa2, 0x01, 1, "u"));
    const s = create(AddressSchema, {
      type: { case: "service", value: create(ServiceSchema, { name: "s" }) },
    });
    assert.equal(hex(toBinary(AddressSchema, s)), bytes(0x12, 3, 0x0a, 1, "s"));
  });

  void it("Service.canonical is bool field 11 and waypoint.hbone_mtls_port field 3", () => {
    assert.equal(hex(toBinary(ServiceSchema, create(ServiceSchema, { canonical: true }))), bytes(0x58, 0x01));
    const s = create(ServiceSchema, { waypoint: { hboneMtlsPort: 15008 } });
    // 15008 = 0x3aa0 -> varint a0 75
    assert.equal(hex(toBinary(ServiceSchema, s)), bytes(0x3a, 3, 0x18, 0xa0, 0x75));
  });

  void it("Authorization: scope 3, action 4, dry_run 6, packed destination_ports 9, service_accounts 11", () => {
    const auth = create(AuthorizationSchema, {
      scope: security.Scope.NAMESPACE,
      action: security.Action.DENY,
      dryRun: true,
    });
    assert.equal(hex(toBinary(AuthorizationSchema, auth)), bytes(0x18, 1, 0x20, 1, 0x30, 1));

    const match = create(security.MatchSchema, {
      destinationPorts: [80, 443],
      serviceAccounts: [{ namespace: "n", serviceAccount: "s" }],
    });
    const encoded = hex(toBinary(security.MatchSchema, match));
    assert.ok(encoded.includes(bytes(0x4a, 3, 0x50, 0xbb, 0x03)), `packed ports missing in ${encoded}`);
    assert.ok(
      encoded.includes(bytes(0x5a, 6, 0x0a, 1, "n", 0x12, 1, "s")),
      `service account missing in ${encoded}`,
    );
  });

  void it("DeltaDiscoveryRequest: type_url 2, subscribe 3, nonce 6, error_detail 7", () => {
    assert.equal(
      hex(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { typeUrl: "t" }))),
      bytes(0x12, 1, "t"),
    );
    assert.equal(
      hex(
        toBinary(
          DeltaDiscoveryRequestSchema,
          create(DeltaDiscoveryRequestSchema, { resourceNamesSubscribe: ["*"] }),
        ),
      ),
      bytes(0x1a, 1, "*"),
    );
    assert.equal(
      hex(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { responseNonce: "n" }))),
      bytes(0x32, 1, "n"),
    );
    const nack = create(DeltaDiscoveryRequestSchema, { errorDetail: { code: 3, message: "m" } });
    assert.equal(hex(toBinary(DeltaDiscoveryRequestSchema, nack)), bytes(0x3a, 5, 0x08, 3, 0x12, 1, "m"));
  });

  void it("DeltaDiscoveryResponse: nonce 5, removed_resources 6; Resource name 3", () => {
    const res = create(DeltaDiscoveryResponseSchema, { nonce: "n", removedResources: ["r"] });
    const encoded = hex(toBinary(DeltaDiscoveryResponseSchema, res));
    assert.ok(encoded.includes(bytes(0x2a, 1, "n")));
    assert.ok(encoded.includes(bytes(0x32, 1, "r")));
    assert.equal(encoded.length, 12);
    assert.equal(
      hex(toBinary(xds.ResourceSchema, create(xds.ResourceSchema, { name: "x" }))),
      bytes(0x1a, 1, "x"),
    );
  });

  void it("IstioCertificateRequest.validity_duration is int64 field 3", () => {
    const req = create(IstioCertificateRequestSchema, { validityDuration: 86400n });
    // 86400 = 0x15180 -> varint 80 a3 05
    assert.equal(hex(toBinary(IstioCertificateRequestSchema, req)), bytes(0x18, 0x80, 0xa3, 0x05));
  });
});

void describe("decoding bytes as an Istio control plane would send them", () => {
  void it("reads a hand-encoded Workload with fields in wire order", () => {
    const wire = Buffer.from(
      bytes(0x0a, 3, "pod") + // name = 1
        bytes(0x12, 2, "ns") + // namespace = 2
        bytes(0x1a, 4, 10, 1, 2, 3) + // addresses = 3
        bytes(0x28, 1) + // tunnel_protocol = HBONE
        bytes(0x3a, 2, "sa") + // service_account = 7
        bytes(0x88, 0x01, 1) + // status = 17 (varint): UNHEALTHY
        bytes(0xa2, 0x01, 3, "uid") + // uid = 20
        bytes(0xc2, 0x01, 3, 0x12, 1, "z") + // locality = 24 { zone = 2 }
        bytes(0xda, 0x01, 2, 0x08, 7), // capacity = 27 UInt32Value { value = 7 }
      "hex",
    );
    const w = fromBinary(WorkloadSchema, wire);
    assert.equal(w.name, "pod");
    assert.equal(w.namespace, "ns");
    assert.deepEqual([...(w.addresses[0] ?? [])], [10, 1, 2, 3]);
    assert.equal(w.tunnelProtocol, TunnelProtocol.HBONE);
    assert.equal(w.serviceAccount, "sa");
    assert.equal(w.status, workload.WorkloadStatus.UNHEALTHY);
    assert.equal(w.uid, "uid");
    assert.equal(w.locality?.zone, "z");
    assert.equal(w.capacity, 7);
  });

  void it("keeps fields it does not know (newer upstream additions) through a round trip", () => {
    // Field 99, varint 1: unknown to us; must survive decode + encode.
    const wire = Buffer.from(bytes(0xa2, 0x01, 1, "u") + bytes(0x98, 0x06, 1), "hex");
    const w = fromBinary(WorkloadSchema, wire);
    assert.equal(w.uid, "u");
    assert.equal(hex(toBinary(WorkloadSchema, w)), wire.toString("hex"));
  });
});

void describe("round trips", () => {
  void it("a fully populated Workload survives encode/decode", () => {
    const w = create(WorkloadSchema, {
      uid: "cluster1//v1/Pod/ns/pod",
      name: "pod",
      namespace: "ns",
      addresses: [new Uint8Array([10, 0, 0, 7]), new Uint8Array(16).fill(1)],
      network: "net",
      tunnelProtocol: TunnelProtocol.HBONE,
      trustDomain: "cluster.local",
      serviceAccount: "sa",
      waypoint: {
        destination: { case: "address", value: { network: "", address: new Uint8Array([10, 0, 0, 9]) } },
        hboneMtlsPort: 15008,
      },
      networkGateway: { destination: { case: "hostname", value: { namespace: "gw", hostname: "eastwest" } } },
      node: "node-a",
      canonicalName: "app",
      canonicalRevision: "v1",
      workloadType: workload.WorkloadType.POD,
      workloadName: "app",
      nativeTunnel: true,
      applicationTunnel: { protocol: workload.ApplicationTunnel_Protocol.PROXY, port: 15088 },
      services: { "ns/svc.ns.svc.cluster.local": { ports: [{ servicePort: 80, targetPort: 8080 }] } },
      authorizationPolicies: ["ns/allow"],
      status: workload.WorkloadStatus.HEALTHY,
      clusterId: "Kubernetes",
      locality: { region: "r", zone: "z", subzone: "s" },
      networkMode: workload.NetworkMode.HOST_NETWORK,
      extensions: [{ name: "x", config: packAny(StatusSchema, create(StatusSchema, { code: 1 })) }],
      capacity: 3,
    });
    const back = fromBinary(WorkloadSchema, toBinary(WorkloadSchema, w));
    assert.ok(equals(WorkloadSchema, w, back));
    assert.equal(back.capacity, 3);
  });

  void it("a Delta request with node, versions and NACK detail survives encode/decode", () => {
    const req = create(DeltaDiscoveryRequestSchema, {
      node: create(core.NodeSchema, {
        id: "ztunnel~node-a",
        userAgentVersionType: { case: "userAgentVersion", value: "1" },
      }),
      typeUrl: "type.googleapis.com/istio.workload.Address",
      resourceNamesSubscribe: ["*"],
      initialResourceVersions: { a: "1", b: "2" },
      responseNonce: "n1",
      errorDetail: { code: 3, message: "bad resource ns/x: unknown tunnel protocol" },
    });
    assert.ok(
      equals(
        DeltaDiscoveryRequestSchema,
        req,
        fromBinary(DeltaDiscoveryRequestSchema, toBinary(DeltaDiscoveryRequestSchema, req)),
      ),
    );
  });
});
