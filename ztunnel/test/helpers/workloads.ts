// A mesh workload as the xDS store holds it, for unit tests of the data path and its metrics.
import type { Workload } from "@weft/state";

export const workload = (name: string, ns = "shop"): Workload => ({
  uid: `Kubernetes//Pod/${ns}/${name}`,
  name,
  namespace: ns,
  addresses: ["10.0.0.1"],
  network: "",
  node: "node-a",
  serviceAccount: name,
  trustDomain: "cluster.local",
  tunnelProtocol: "HBONE",
  locality: { region: "", zone: "", subzone: "" },
  services: {},
  authorizationPolicies: [],
  status: "Healthy",
  canonicalName: `${name}-app`,
  canonicalRevision: "v2",
  workloadName: `${name}-deploy`,
  workloadType: "DEPLOYMENT",
  clusterId: "Kubernetes",
});
