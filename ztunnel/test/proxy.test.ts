// The data path's pure parts (labels, addresses, headers) as tables, and the TCP splice over real
// loopback sockets: bytes both ways, half-close, and resets that stay resets.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { accessLogEntry, istioLabels } from "../src/metrics.js";
import {
  newRecord,
  newTraceparent,
  sourceBaggage,
  sourceIpFor,
  spliceSockets,
  splitAddress,
  upstreamSourceFor,
} from "../src/proxy/index.js";
import { parseHostPort } from "../src/ztunnel.js";
import { deferred, listen, readAll } from "./helpers/net.js";
import { workload } from "./helpers/workloads.js";

void describe("data path helpers", () => {
  void it("picks the pod IP of the peer's family", () => {
    const table: [readonly string[], string, string | undefined][] = [
      [["10.0.0.1", "fd00::1"], "10.0.0.9", "10.0.0.1"],
      [["10.0.0.1", "fd00::1"], "fd00::9", "fd00::1"],
      [["fd00::1"], "10.0.0.9", "fd00::1"],
      [[], "10.0.0.9", undefined],
    ];
    for (const [ips, peer, want] of table)
      assert.equal(sourceIpFor(ips, peer), want, `${ips.join(",")} → ${peer}`);
  });

  void it("splits addresses and host:port settings", () => {
    assert.deepEqual(splitAddress("10.0.0.1:80"), { host: "10.0.0.1", port: 80 });
    assert.deepEqual(splitAddress("[fd00::1]:15008"), { host: "fd00::1", port: 15008 });
    assert.deepEqual(parseHostPort("127.0.0.1:15000", "X"), { host: "127.0.0.1", port: 15000 });
    assert.deepEqual(parseHostPort("[::1]:15020", "X"), { host: "::1", port: 15020 });
    assert.throws(
      () => parseHostPort("localhost", "WEFT_ADMIN_ADDRESS"),
      /WEFT_ADMIN_ADDRESS="localhost" is not host:port/,
    );
    assert.throws(() => parseHostPort("1.2.3.4:99999", "X"), /not host:port/);
  });

  void it("connects to apps from 127.0.0.6, or from the pod's own IPv6", () => {
    assert.equal(upstreamSourceFor("10.0.0.5"), "127.0.0.6");
    assert.equal(upstreamSourceFor("fd00::5"), "fd00::5");
  });

  void it("starts a W3C trace and names the caller in baggage", () => {
    assert.match(newTraceparent(), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    // Ids come from a refilled pool: none repeats across several refills.
    const ids = new Set(Array.from({ length: 1000 }, () => newTraceparent()));
    assert.equal(ids.size, 1000);
    assert.equal(
      sourceBaggage(workload("web")),
      "k8s.namespace.name=shop,k8s.deployment.name=web-deploy,service.name=web-app,service.version=v2,k8s.cluster.name=Kubernetes",
    );
  });

  void it("labels connections as Istio does", () => {
    const r = newRecord("outbound", "10.0.0.1", "10.0.0.2", 80);
    assert.equal(r.reporter, "source");
    r.source = workload("web");
    r.sourcePrincipal = "spiffe://cluster.local/ns/shop/sa/web";
    r.destinationWorkload = workload("cart");
    r.destinationPrincipal = "spiffe://cluster.local/ns/shop/sa/cart";
    r.security = "mutual_tls";
    const labels = istioLabels(r);
    assert.equal(labels.reporter, "source");
    assert.equal(labels.source_workload, "web-deploy");
    assert.equal(labels.source_app, "web-app");
    assert.equal(labels.destination_workload, "cart-deploy");
    assert.equal(labels.destination_workload_namespace, "shop");
    assert.equal(labels.destination_service, "unknown");
    assert.equal(labels.connection_security_policy, "mutual_tls");
    assert.equal(labels.response_flags, "-");
    const passthrough = newRecord("outbound", "10.0.0.1", "93.184.216.34", 443);
    assert.equal(
      istioLabels(passthrough).destination_service,
      "93.184.216.34",
      "outside the mesh: the address",
    );
    const inbound = newRecord("inbound", "10.0.0.1", "fd00::2", 8080);
    inbound.responseFlags = "DENY";
    inbound.reason = "NO_ALLOW_MATCH";
    assert.equal(istioLabels(inbound).reporter, "destination");
    const line = accessLogEntry(inbound);
    assert.deepEqual(
      [line["response_flags"], line["reason"], (line["dst"] as { addr: string }).addr],
      ["DENY", "NO_ALLOW_MATCH", "[fd00::2]:8080"],
    );
  });
});

async function pair(
  onServer: (s: net.Socket) => void,
): Promise<{ client: net.Socket; upstreamClient: net.Socket; close: () => Promise<void> }> {
  // app client → [front] splice [upstreamClient] → app server
  const upstream = await listen(onServer);
  const front = net.createServer({ allowHalfOpen: true });
  front.listen(0, "127.0.0.1");
  await once(front, "listening");
  const accepted = once(front, "connection") as Promise<[net.Socket]>;
  const client = net.connect({
    port: (front.address() as net.AddressInfo).port,
    host: "127.0.0.1",
    allowHalfOpen: true,
  });
  const [frontSocket] = await accepted;
  const upstreamClient = net.connect({ port: upstream.port, host: "127.0.0.1", allowHalfOpen: true });
  await once(upstreamClient, "connect");
  return {
    client,
    upstreamClient: Object.assign(upstreamClient, { front: frontSocket }),
    close: async () => {
      front.close();
      await upstream.close();
    },
  };
}

void describe("spliceSockets", () => {
  void it("carries bytes both ways with half-close and reports the counts", async () => {
    const p = await pair((s) => s.pipe(s));
    const front = (p.upstreamClient as net.Socket & { front: net.Socket }).front;
    const done = spliceSockets(front, p.upstreamClient);
    p.client.end("half-closed, then answered");
    assert.equal((await readAll(p.client)).toString(), "half-closed, then answered");
    const r = await done;
    assert.deepEqual([r.outcome, r.fromClient, r.fromServer], ["closed", 26, 26]);
    await p.close();
  });

  void it("turns the server's reset into a reset for the client, never a FIN", async () => {
    const p = await pair((s) => s.once("data", () => s.resetAndDestroy()));
    const front = (p.upstreamClient as net.Socket & { front: net.Socket }).front;
    const done = spliceSockets(front, p.upstreamClient);
    const err = deferred<string>();
    p.client.on("error", (e: NodeJS.ErrnoException) => err.resolve(e.code ?? e.message));
    p.client.on("end", () => err.resolve("FIN"));
    p.client.write("trigger");
    assert.equal(await err.promise, "ECONNRESET");
    assert.equal((await done).outcome, "server_reset");
    await p.close();
  });
});
