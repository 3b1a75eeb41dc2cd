// Helpers for the xDS server tests: real grpc-js server and raw ADS streams on loopback.
import * as grpc from "@grpc/grpc-js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  AddressSchema,
  AdsClient,
  DeltaDiscoveryRequestSchema,
  TYPE_URL,
  packAny,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from "@weft/api";
import {
  DeltaXdsServer,
  ResourceCache,
  type DeltaXdsServerOptions,
  type ResourceInput,
} from "../src/xds/index.js";

export const ADDRESS = TYPE_URL.Address;

export function workloadAny(uid: string, ip = [10, 0, 0, 1], extra: { node?: string } = {}): Any {
  return packAny(
    AddressSchema,
    create(AddressSchema, {
      type: {
        case: "workload",
        value: {
          uid,
          name: uid.split("/").pop() ?? uid,
          namespace: "default",
          addresses: [new Uint8Array(ip)],
          serviceAccount: "default",
          trustDomain: "cluster.local",
          node: extra.node ?? "node-a",
        },
      },
    }),
  );
}

export function serviceAny(namespace: string, hostname: string, vip = [10, 96, 0, 1]): Any {
  return packAny(
    AddressSchema,
    create(AddressSchema, {
      type: {
        case: "service",
        value: {
          name: hostname.split(".")[0] ?? hostname,
          namespace,
          hostname,
          addresses: [{ network: "", address: new Uint8Array(vip) }],
          ports: [{ servicePort: 80, targetPort: 8080 }],
        },
      },
    }),
  );
}

export function workload(uid: string, ip?: number[], extra?: { node?: string }): ResourceInput {
  return { name: uid, resource: workloadAny(uid, ip, extra), rank: 0 };
}

export function service(namespace: string, hostname: string, vip?: number[]): ResourceInput {
  return { name: `${namespace}/${hostname}`, resource: serviceAny(namespace, hostname, vip), rank: 1 };
}

export interface Harness {
  readonly cache: ResourceCache;
  readonly server: DeltaXdsServer;
  readonly address: string;
  close(): Promise<void>;
}

export async function startServer(opts: Partial<DeltaXdsServerOptions> = {}): Promise<Harness> {
  const cache = opts.cache ?? new ResourceCache();
  const server = new DeltaXdsServer({ ...opts, cache });
  const grpcServer = new grpc.Server();
  server.addTo(grpcServer);
  const port = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    cache,
    server,
    address: `127.0.0.1:${port}`,
    close: async () => {
      server.close();
      await new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
      grpcServer.forceShutdown();
    },
  };
}

/** A raw ADS stream that records every response, for counting exactly what the server sends. */
export class RawStream {
  readonly responses: DeltaDiscoveryResponse[] = [];
  #read = 0;
  #waiters: (() => void)[] = [];
  readonly #client: AdsClient;
  readonly #call: grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

  constructor(address: string) {
    this.#client = new AdsClient(address, grpc.credentials.createInsecure());
    this.#call = this.#client.deltaAggregatedResources();
    this.#call.on("data", (r: DeltaDiscoveryResponse) => {
      this.responses.push(r);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.#call.on("error", () => {
      /* cancelled on close */
    });
  }

  send(init: MessageInitShape<typeof DeltaDiscoveryRequestSchema>): void {
    this.#call.write(create(DeltaDiscoveryRequestSchema, init));
  }

  /** The next response not yet returned by next(). */
  async next(timeoutMs = 5000): Promise<DeltaDiscoveryResponse> {
    const deadline = Date.now() + timeoutMs;
    while (this.#read >= this.responses.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no xDS response within ${timeoutMs} ms (got ${this.responses.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.responses[this.#read++]!;
  }

  ack(res: DeltaDiscoveryResponse): void {
    this.send({ typeUrl: res.typeUrl, responseNonce: res.nonce });
  }

  get unread(): number {
    return this.responses.length - this.#read;
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}

export const names = (r: DeltaDiscoveryResponse): string[] => r.resources.map((x) => x.name);
