// Real gRPC over loopback: the grpc-js definitions built from our descriptors must carry
// DeltaAggregatedResources (bidi) and CreateCertificate (unary) end to end.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  AddressSchema,
  AdsClient,
  AdsService,
  CaClient,
  CaService,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  IstioCertificateRequestSchema,
  IstioCertificateResponseSchema,
  TYPE_URL,
  WorkloadSchema,
  packAny,
  unpackAny,
} from "@weft/api";
import type {
  AdsHandlers,
  CaHandlers,
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  IstioCertificateResponse,
} from "@weft/api";

void describe("grpc-js service definitions", () => {
  const server = new grpc.Server();
  let address = "";

  before(async () => {
    const ads: AdsHandlers = {
      deltaAggregatedResources(call) {
        call.on("data", (req: DeltaDiscoveryRequest) => {
          // Answer each subscription with one Address per requested name; ACKs get no answer.
          if (req.responseNonce !== "") return;
          call.write(
            create(DeltaDiscoveryResponseSchema, {
              typeUrl: req.typeUrl,
              nonce: `nonce-for-${req.node?.id ?? ""}`,
              resources: req.resourceNamesSubscribe.map((name) => ({
                name,
                version: "1",
                resource: packAny(
                  AddressSchema,
                  create(AddressSchema, {
                    type: { case: "workload", value: create(WorkloadSchema, { uid: name }) },
                  }),
                ),
              })),
            }),
          );
        });
        call.on("end", () => call.end());
      },
    };
    const ca: CaHandlers = {
      createCertificate(call, callback) {
        const auth = call.metadata.get("authorization")[0];
        if (auth !== "Bearer token") {
          callback({ code: grpc.status.UNAUTHENTICATED, details: "no token" });
          return;
        }
        callback(
          null,
          create(IstioCertificateResponseSchema, {
            certChain: [`leaf-for:${call.request.csr}:${call.request.validityDuration}`, "root"],
          }),
        );
      },
    };
    server.addService(AdsService, ads);
    server.addService(CaService, ca);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  void it("has the upstream method paths", () => {
    assert.equal(
      AdsService.deltaAggregatedResources.path,
      "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources",
    );
    assert.equal(AdsService.deltaAggregatedResources.requestStream, true);
    assert.equal(AdsService.deltaAggregatedResources.responseStream, true);
    assert.equal(
      CaService.createCertificate.path,
      "/istio.v1.auth.IstioCertificateService/CreateCertificate",
    );
    assert.equal(CaService.createCertificate.requestStream, false);
    assert.equal(CaService.createCertificate.responseStream, false);
  });

  void it("streams a delta subscription and its response over DeltaAggregatedResources", async () => {
    const client = new AdsClient(address, grpc.credentials.createInsecure());
    try {
      const stream = client.deltaAggregatedResources();
      const response = new Promise<DeltaDiscoveryResponse>((resolve, reject) => {
        stream.once("data", resolve);
        stream.once("error", reject);
      });
      stream.write(
        create(DeltaDiscoveryRequestSchema, {
          node: { id: "ztunnel~node-a" },
          typeUrl: TYPE_URL.Address,
          resourceNamesSubscribe: ["uid-1", "uid-2"],
        }),
      );
      const res = await response;
      assert.equal(res.typeUrl, TYPE_URL.Address);
      assert.equal(res.nonce, "nonce-for-ztunnel~node-a");
      assert.deepEqual(
        res.resources.map((r) => r.name),
        ["uid-1", "uid-2"],
      );
      const first = res.resources[0]?.resource;
      assert.ok(first);
      const addr = unpackAny(AddressSchema, first);
      assert.equal(addr?.type.case === "workload" ? addr.type.value.uid : undefined, "uid-1");
      const ended = new Promise<void>((resolve) => stream.on("end", resolve).on("data", () => {}));
      stream.end();
      await ended;
    } finally {
      client.close();
    }
  });

  void it("answers the left-out state-of-the-world rpc with UNIMPLEMENTED", async () => {
    const client = new AdsClient(address, grpc.credentials.createInsecure());
    try {
      const stream = client.streamAggregatedResources();
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        stream.on("error", resolve).on("data", () => {}),
      );
      assert.equal(err.code, grpc.status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });

  void it("answers CreateCertificate and passes the bearer token metadata", async () => {
    const client = new CaClient(address, grpc.credentials.createInsecure());
    try {
      const md = new grpc.Metadata();
      md.set("authorization", "Bearer token");
      const res = await new Promise<IstioCertificateResponse>((resolve, reject) =>
        client.createCertificate(
          create(IstioCertificateRequestSchema, { csr: "CSR", validityDuration: 3600n }),
          md,
          (err, value) => (err || !value ? reject(err ?? new Error("no response")) : resolve(value)),
        ),
      );
      assert.deepEqual(res.certChain, ["leaf-for:CSR:3600", "root"]);

      const denied = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.createCertificate(
          create(IstioCertificateRequestSchema, { csr: "CSR" }),
          new grpc.Metadata(),
          (err) => resolve(err),
        ),
      );
      assert.equal(denied?.code, grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
    }
  });
});
