// Schemas for the subset of Kubernetes, Gateway API and weft.dev objects the controller reads.
// Only fields that translation uses are validated; see common.ts for how unknown fields pass.
import { z } from "zod";
import {
  duration,
  ipAddress,
  ipOrCidr,
  labelSelector,
  labels,
  metadata,
  msg,
  nonNegativeInt,
  objectName,
  percent,
  portNumber,
  portString,
  positiveInt,
} from "./common.js";

const str = z.string();
const strList = z.array(str);

function top<K extends string, S extends z.ZodType>(kind: K, spec: S) {
  return z.looseObject({ apiVersion: str, kind: z.literal(kind), metadata, spec });
}

// ---- core/v1 ---------------------------------------------------------------------------------

export const NamespaceSchema = z.looseObject({ apiVersion: str, kind: z.literal("Namespace"), metadata });

export const NodeSchema = z.looseObject({ apiVersion: str, kind: z.literal("Node"), metadata });

const containerPort = z.object({
  name: str.optional(),
  containerPort: portNumber,
  protocol: z.enum(["TCP", "UDP", "SCTP"]).optional(),
});

export const PodSchema = z.looseObject({
  apiVersion: str,
  kind: z.literal("Pod"),
  metadata,
  spec: z
    .object({
      nodeName: str.optional(),
      serviceAccountName: str.optional(),
      hostNetwork: z.boolean().optional(),
      containers: z
        .array(z.object({ name: str.optional(), ports: z.array(containerPort).optional() }))
        .default([]),
    })
    .default({ containers: [] }),
  status: z
    .object({
      podIP: ipAddress.optional(),
      podIPs: z.array(z.object({ ip: ipAddress })).optional(),
      phase: z.enum(["Pending", "Running", "Succeeded", "Failed", "Unknown"]).optional(),
      conditions: z.array(z.object({ type: str, status: z.enum(["True", "False", "Unknown"]) })).optional(),
    })
    .optional(),
});

const servicePort = z.object({
  name: str.optional(),
  port: portNumber,
  protocol: z.enum(["TCP", "UDP", "SCTP"]).optional(),
  appProtocol: str.optional(),
  targetPort: z
    .union(
      [
        portNumber,
        z.string().min(1, {
          error: msg("empty targetPort", "use a port number like 8080 or a container port name like http"),
        }),
      ],
      {
        error: msg("expected a port number or a container port name", "use e.g. 8080 or http"),
      },
    )
    .optional(),
});

const clusterIP = z.union([z.literal("None"), z.literal(""), ipAddress], {
  error: msg("not an IP address or None", "use an IP address, or None for a headless Service"),
});

export const ServiceSchema = top(
  "Service",
  z.object({
    type: z.enum(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]).optional(),
    clusterIP: clusterIP.optional(),
    clusterIPs: z.array(clusterIP).optional(),
    ipFamilies: z.array(z.enum(["IPv4", "IPv6"])).optional(),
    selector: labels.optional(),
    ports: z.array(servicePort).default([]),
  }),
);

// ---- discovery.k8s.io/v1 ------------------------------------------------------------------------

export const EndpointSliceSchema = z.looseObject({
  apiVersion: str,
  kind: z.literal("EndpointSlice"),
  metadata,
  addressType: z.enum(["IPv4", "IPv6", "FQDN"]),
  endpoints: z
    .array(
      z.object({
        addresses: z
          .array(str)
          .min(1, { error: msg("endpoint has no addresses", "list at least one address") }),
        conditions: z
          .object({
            ready: z.boolean().optional(),
            serving: z.boolean().optional(),
            terminating: z.boolean().optional(),
          })
          .optional(),
        nodeName: str.optional(),
        targetRef: z
          .object({ kind: str.optional(), name: str.optional(), namespace: str.optional() })
          .optional(),
      }),
    )
    .nullable()
    .default([]),
  ports: z
    .array(z.object({ name: str.optional(), port: portNumber.optional(), protocol: str.optional() }))
    .nullable()
    .default([]),
});

// ---- gateway.networking.k8s.io/v1 -------------------------------------------------------------

const gatewayAddress = z.object({
  type: z.enum(["IPAddress", "Hostname", "NamedAddress"]).optional(),
  value: str,
});

export const GatewaySchema = z.looseObject({
  apiVersion: str,
  kind: z.literal("Gateway"),
  metadata,
  spec: z.object({
    gatewayClassName: str,
    listeners: z
      .array(z.object({ name: str, port: portNumber, protocol: str, hostname: str.optional() }))
      .min(1, {
        error: msg("a Gateway needs at least one listener", "add {name: mesh, port: 15008, protocol: HBONE}"),
      }),
    addresses: z.array(gatewayAddress).optional(),
  }),
  status: z.object({ addresses: z.array(gatewayAddress).optional() }).optional(),
});

const parentRef = z.object({
  group: str.optional(),
  kind: str.optional(),
  name: objectName,
  namespace: str.optional(),
  sectionName: str.optional(),
  port: portNumber.optional(),
});

const backendRef = z.object({
  group: str.optional(),
  kind: str.optional(),
  name: objectName,
  namespace: str.optional(),
  port: portNumber.optional(),
  weight: nonNegativeInt.optional(),
});

const headerMatch = z.object({
  type: z.enum(["Exact", "RegularExpression"]).optional(),
  name: str.min(1),
  value: str,
});

const headerModifier = z.object({
  set: z.array(z.object({ name: str, value: str })).optional(),
  add: z.array(z.object({ name: str, value: str })).optional(),
  remove: strList.optional(),
});

const httpFilter = z.object({
  type: z.enum([
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestRedirect",
    "URLRewrite",
    "RequestMirror",
    "ExtensionRef",
  ]),
  requestHeaderModifier: headerModifier.optional(),
  responseHeaderModifier: headerModifier.optional(),
  requestRedirect: z
    .object({
      scheme: z.enum(["http", "https"]).optional(),
      hostname: str.optional(),
      path: z
        .object({
          type: z.enum(["ReplaceFullPath", "ReplacePrefixMatch"]),
          replaceFullPath: str.optional(),
          replacePrefixMatch: str.optional(),
        })
        .optional(),
      port: portNumber.optional(),
      statusCode: z
        .union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)])
        .optional(),
    })
    .optional(),
  urlRewrite: z
    .object({
      hostname: str.optional(),
      path: z
        .object({
          type: z.enum(["ReplaceFullPath", "ReplacePrefixMatch"]),
          replaceFullPath: str.optional(),
          replacePrefixMatch: str.optional(),
        })
        .optional(),
    })
    .optional(),
  requestMirror: z.object({ backendRef, percent: percent.optional() }).optional(),
});

const routeTimeouts = z.object({ request: duration.optional(), backendRequest: duration.optional() });

export const HTTPRouteSchema = top(
  "HTTPRoute",
  z.object({
    parentRefs: z.array(parentRef).default([]),
    hostnames: strList.optional(),
    rules: z
      .array(
        z.object({
          name: str.optional(),
          matches: z
            .array(
              z.object({
                path: z
                  .object({
                    type: z.enum(["Exact", "PathPrefix", "RegularExpression"]).default("PathPrefix"),
                    value: str.default("/"),
                  })
                  .optional(),
                headers: z.array(headerMatch).optional(),
                queryParams: z.array(headerMatch).optional(),
                method: z
                  .enum(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"])
                  .optional(),
              }),
            )
            .optional(),
          filters: z.array(httpFilter).optional(),
          backendRefs: z.array(backendRef.extend({ filters: z.array(httpFilter).optional() })).optional(),
          timeouts: routeTimeouts.optional(),
        }),
      )
      .default([]),
  }),
);

export const GRPCRouteSchema = top(
  "GRPCRoute",
  z.object({
    parentRefs: z.array(parentRef).default([]),
    hostnames: strList.optional(),
    rules: z
      .array(
        z.object({
          name: str.optional(),
          matches: z
            .array(
              z.object({
                method: z
                  .object({
                    type: z.enum(["Exact", "RegularExpression"]).optional(),
                    service: str.optional(),
                    method: str.optional(),
                  })
                  .optional(),
                headers: z.array(headerMatch).optional(),
              }),
            )
            .optional(),
          filters: z.array(httpFilter).optional(),
          backendRefs: z.array(backendRef).optional(),
        }),
      )
      .default([]),
  }),
);

// ---- weft.dev/v1alpha1 --------------------------------------------------------------------------

const nonEmptyString = (what: string, example: string) =>
  z
    .string({ error: msg(`expected ${what}`, `write it as a string, e.g. ${example}`) })
    .min(1, { error: msg(`empty ${what}`, `remove the entry or write e.g. ${example}`) });

const principal = nonEmptyString("a principal", '"cluster.local/ns/default/sa/web" or "*"').refine(
  (p) => !p.startsWith("spiffe://"),
  {
    error: msg("principals are written without the spiffe:// prefix", "write <trustDomain>/ns/<ns>/sa/<sa>"),
  },
);

const source = z.object({
  principals: z.array(principal).optional(),
  notPrincipals: z.array(principal).optional(),
  namespaces: z.array(nonEmptyString("a namespace", "default")).optional(),
  notNamespaces: z.array(nonEmptyString("a namespace", "default")).optional(),
  serviceAccounts: z.array(nonEmptyString("a service account", "default/web or web")).optional(),
  notServiceAccounts: z.array(nonEmptyString("a service account", "default/web or web")).optional(),
  ipBlocks: z.array(ipOrCidr).optional(),
  notIpBlocks: z.array(ipOrCidr).optional(),
});

const operation = z.object({
  ports: z.array(portString).optional(),
  notPorts: z.array(portString).optional(),
  methods: z.array(nonEmptyString("a method", "GET")).optional(),
  notMethods: z.array(nonEmptyString("a method", "GET")).optional(),
  paths: z.array(nonEmptyString("a path", "/api/*")).optional(),
  notPaths: z.array(nonEmptyString("a path", "/api/*")).optional(),
  hosts: z.array(nonEmptyString("a host", "web.example.com")).optional(),
  notHosts: z.array(nonEmptyString("a host", "web.example.com")).optional(),
});

const policyTargetRef = z.object({
  group: str.optional(),
  kind: z.enum(["Service", "Gateway"], {
    error: msg(
      "unsupported targetRef kind",
      "target a Service (enforced by its waypoint) or a waypoint Gateway",
    ),
  }),
  name: objectName,
});

export const AuthorizationPolicySchema = top(
  "AuthorizationPolicy",
  z
    .object({
      selector: labelSelector.optional(),
      targetRefs: z.array(policyTargetRef).optional(),
      action: z.enum(["ALLOW", "DENY", "AUDIT"]).default("ALLOW"),
      rules: z
        .array(
          z.object({
            from: z.array(z.object({ source: source.optional().default({}) })).optional(),
            to: z.array(z.object({ operation: operation.optional().default({}) })).optional(),
            when: z
              .array(
                z.object({
                  key: nonEmptyString("a condition key", "source.ip"),
                  values: strList.optional(),
                  notValues: strList.optional(),
                }),
              )
              .optional(),
          }),
        )
        .default([]),
    })
    .default({ action: "ALLOW", rules: [] })
    .superRefine((spec, ctx) => {
      if (spec.selector !== undefined && spec.targetRefs !== undefined && spec.targetRefs.length > 0) {
        ctx.addIssue({
          code: "custom",
          path: ["targetRefs"],
          message: msg("selector and targetRefs are mutually exclusive", "keep one of them"),
        });
      }
    }),
);

const mtlsMode = z.enum(["UNSET", "STRICT", "PERMISSIVE", "DISABLE"], {
  error: msg("unknown mTLS mode", "use STRICT, PERMISSIVE, DISABLE or UNSET"),
});

export const PeerAuthenticationSchema = top(
  "PeerAuthentication",
  z
    .object({
      selector: labelSelector.optional(),
      mtls: z.object({ mode: mtlsMode.default("UNSET") }).optional(),
      portLevelMtls: z
        .record(portString, z.object({ mode: mtlsMode.default("UNSET") }), {
          error: msg("portLevelMtls keys must be port numbers", 'write e.g. "8080": {mode: PERMISSIVE}'),
        })
        .optional(),
    })
    .default({})
    .superRefine((spec, ctx) => {
      if (
        spec.portLevelMtls !== undefined &&
        Object.keys(spec.portLevelMtls).length > 0 &&
        !spec.selector?.matchLabels
      ) {
        ctx.addIssue({
          code: "custom",
          path: ["portLevelMtls"],
          message: msg(
            "portLevelMtls needs a workload selector",
            "add spec.selector.matchLabels or remove portLevelMtls",
          ),
        });
      }
    }),
);

/** Mirrors weft.v1alpha1.TrafficPolicy; durations in Gateway API form (`250ms`, `1m30s`). */
export const TrafficPolicySchema = top(
  "TrafficPolicy",
  z.object({
    targetRef: z.object({
      group: str.optional(),
      kind: z.literal("Service", { error: msg("TrafficPolicy targets a Service", "set kind: Service") }),
      name: objectName,
    }),
    /** Circuit breaking; 0 or absent means unlimited. */
    connectionLimits: z
      .object({
        maxConnections: nonNegativeInt.optional(),
        maxPendingRequests: nonNegativeInt.optional(),
        maxRequests: nonNegativeInt.optional(),
        maxRetries: nonNegativeInt.optional(),
        maxRequestsPerConnection: nonNegativeInt.optional(),
      })
      .optional(),
    outlierDetection: z
      .object({
        consecutive5xxErrors: nonNegativeInt.optional(),
        interval: duration.optional(),
        baseEjectionTime: duration.optional(),
        maxEjectionPercent: percent.optional(),
        disabled: z.boolean().optional(),
      })
      .optional(),
    retryBudget: z
      .object({ percent: percent.optional(), minRetriesPerSecond: nonNegativeInt.optional() })
      .optional(),
    localRateLimit: z
      .object({
        requests: positiveInt,
        unit: z.enum(["Second", "Minute", "Hour"], {
          error: msg("unknown unit", "use Second, Minute or Hour"),
        }),
        burst: positiveInt.optional(),
      })
      .optional(),
    faultInjection: z
      .object({
        delay: z.object({ fixedDelay: duration, percent: percent.default(100) }).optional(),
        abort: z
          .object({
            httpStatus: z.number().int().min(200).max(599).optional(),
            grpcStatus: z.number().int().min(0).max(16).optional(),
            percent: percent.default(100),
          })
          .refine((a) => (a.httpStatus === undefined) !== (a.grpcStatus === undefined), {
            error: msg(
              "abort needs exactly one of httpStatus or grpcStatus",
              "set httpStatus: 503 or grpcStatus: 14",
            ),
          })
          .optional(),
      })
      .optional(),
    loadBalancer: z
      .object({
        algorithm: z.enum(["ROUND_ROBIN", "LEAST_REQUEST", "RING_HASH"], {
          error: msg("unknown load balancer algorithm", "use ROUND_ROBIN, LEAST_REQUEST or RING_HASH"),
        }),
        hashKey: z
          .object({
            header: str.min(1).optional(),
            cookie: str.min(1).optional(),
            queryParam: str.min(1).optional(),
            sourceIP: z.boolean().optional(),
          })
          .refine(
            (h) => [h.header, h.cookie, h.queryParam, h.sourceIP].filter((v) => v !== undefined).length === 1,
            {
              error: msg(
                "hashKey needs exactly one source",
                "set one of header, cookie, queryParam or sourceIP",
              ),
            },
          )
          .optional(),
        ringSize: positiveInt.optional(),
      })
      .superRefine((lb, ctx) => {
        if (lb.algorithm === "RING_HASH" && lb.hashKey === undefined) {
          ctx.addIssue({
            code: "custom",
            path: ["hashKey"],
            message: msg(
              "RING_HASH needs a hash key",
              "add hashKey: {header: x-user} (or cookie, queryParam, sourceIP)",
            ),
          });
        }
      })
      .optional(),
    responseCaching: z
      .object({
        maxTtl: duration.optional(),
        maxBodyBytes: positiveInt.optional(),
        maxTotalBytes: positiveInt.optional(),
      })
      .optional(),
  }),
);

export const WeftMeshConfigSchema = z.looseObject({
  apiVersion: str,
  kind: z.literal("WeftMeshConfig"),
  metadata,
  spec: z
    .object({
      trustDomain: nonEmptyString("a trust domain", "cluster.local").default("cluster.local"),
      rootNamespace: nonEmptyString("a namespace", "weft-system").default("weft-system"),
      clusterId: nonEmptyString("a cluster id", "Kubernetes").default("Kubernetes"),
      domainSuffix: nonEmptyString("a DNS suffix", "cluster.local").default("cluster.local"),
      network: str.default(""),
      defaultMtlsMode: z
        .enum(["STRICT", "PERMISSIVE"], {
          error: msg("unknown default mTLS mode", "use STRICT or PERMISSIVE"),
        })
        .default("PERMISSIVE"),
    })
    .default({
      trustDomain: "cluster.local",
      rootNamespace: "weft-system",
      clusterId: "Kubernetes",
      domainSuffix: "cluster.local",
      network: "",
      defaultMtlsMode: "PERMISSIVE",
    }),
});

/**
 * Bearer tokens the CA accepts in file mode (instead of a TokenReview). Entries have the same
 * shape as the CA's standalone token file: `serviceAccount` is "namespace/name".
 */
export const WeftTokenListSchema = z.looseObject({
  apiVersion: str,
  kind: z.literal("WeftTokenList"),
  metadata,
  tokens: z.array(
    z.object({
      token: nonEmptyString("a bearer token", "a long random string").refine((t) => t.length >= 16, {
        error: msg("token shorter than 16 characters", "use a random token, e.g. `openssl rand -hex 32`"),
      }),
      serviceAccount: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, {
        error: msg('serviceAccount is not "namespace/name"', "write e.g. weft-system/ztunnel"),
      }),
      podName: str.min(1).optional(),
      nodeName: str.min(1).optional(),
      expiresAt: z
        .string()
        .refine((d) => !Number.isNaN(Date.parse(d)), {
          error: msg("expiresAt is not a date", "use RFC 3339, e.g. 2030-01-01T00:00:00Z"),
        })
        .optional(),
    }),
  ),
});

export type Namespace = z.infer<typeof NamespaceSchema>;
export type Node = z.infer<typeof NodeSchema>;
export type Pod = z.infer<typeof PodSchema>;
export type Service = z.infer<typeof ServiceSchema>;
export type EndpointSlice = z.infer<typeof EndpointSliceSchema>;
export type Gateway = z.infer<typeof GatewaySchema>;
export type HTTPRoute = z.infer<typeof HTTPRouteSchema>;
export type GRPCRoute = z.infer<typeof GRPCRouteSchema>;
export type AuthorizationPolicy = z.infer<typeof AuthorizationPolicySchema>;
export type PeerAuthentication = z.infer<typeof PeerAuthenticationSchema>;
export type TrafficPolicy = z.infer<typeof TrafficPolicySchema>;
export type WeftMeshConfig = z.infer<typeof WeftMeshConfigSchema>;
export type WeftTokenList = z.infer<typeof WeftTokenListSchema>;

export type HTTPRouteRule = HTTPRoute["spec"]["rules"][number];
export type GRPCRouteRule = GRPCRoute["spec"]["rules"][number];
export type ParentRef = z.infer<typeof parentRef>;
export type BackendRef = z.infer<typeof backendRef>;
export type HTTPFilter = z.infer<typeof httpFilter>;
export type AuthorizationRule = AuthorizationPolicy["spec"]["rules"][number];

export type K8sObject =
  | Namespace
  | Node
  | Pod
  | Service
  | EndpointSlice
  | Gateway
  | HTTPRoute
  | GRPCRoute
  | AuthorizationPolicy
  | PeerAuthentication
  | TrafficPolicy
  | WeftMeshConfig
  | WeftTokenList;

export type Kind = K8sObject["kind"];

export interface KindInfo {
  readonly apiVersions: readonly string[];
  readonly namespaced: boolean;
  readonly schema: z.ZodType<K8sObject>;
}

/** Every kind the controller reads, the apiVersions it accepts for it, and its schema. */
export const KINDS: Readonly<Record<Kind, KindInfo>> = {
  Namespace: { apiVersions: ["v1"], namespaced: false, schema: NamespaceSchema },
  Node: { apiVersions: ["v1"], namespaced: false, schema: NodeSchema },
  Pod: { apiVersions: ["v1"], namespaced: true, schema: PodSchema },
  Service: { apiVersions: ["v1"], namespaced: true, schema: ServiceSchema },
  EndpointSlice: { apiVersions: ["discovery.k8s.io/v1"], namespaced: true, schema: EndpointSliceSchema },
  Gateway: {
    apiVersions: ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"],
    namespaced: true,
    schema: GatewaySchema,
  },
  HTTPRoute: {
    apiVersions: ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"],
    namespaced: true,
    schema: HTTPRouteSchema,
  },
  GRPCRoute: {
    apiVersions: ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha2"],
    namespaced: true,
    schema: GRPCRouteSchema,
  },
  AuthorizationPolicy: {
    apiVersions: ["weft.dev/v1alpha1"],
    namespaced: true,
    schema: AuthorizationPolicySchema,
  },
  PeerAuthentication: {
    apiVersions: ["weft.dev/v1alpha1"],
    namespaced: true,
    schema: PeerAuthenticationSchema,
  },
  TrafficPolicy: { apiVersions: ["weft.dev/v1alpha1"], namespaced: true, schema: TrafficPolicySchema },
  WeftMeshConfig: { apiVersions: ["weft.dev/v1alpha1"], namespaced: false, schema: WeftMeshConfigSchema },
  WeftTokenList: { apiVersions: ["weft.dev/v1alpha1"], namespaced: false, schema: WeftTokenListSchema },
};

export function isKnownKind(kind: string): kind is Kind {
  return Object.hasOwn(KINDS, kind);
}
