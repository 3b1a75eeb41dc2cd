// ZtunnelMetrics: Istio's TCP counters are kept as plain totals per label set and handed to
// prom-client at scrape time; what a scrape shows must be what direct counter updates would show.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger, createRegistry } from "@weft/core";
import { ZtunnelMetrics } from "../src/metrics.js";
import { newRecord, type ConnectionRecord } from "../src/proxy/record.js";
import { workload } from "./helpers/workloads.js";

function metrics(): { m: ZtunnelMetrics; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const log = createLogger({ name: "test", destination: sink });
  return { m: new ZtunnelMetrics(log, createRegistry()), lines };
}

function tunnel(from: string, to: string): ConnectionRecord {
  const r = newRecord("outbound", "10.0.0.1", "10.0.0.2", 8080);
  r.source = workload(from);
  r.sourcePrincipal = `spiffe://cluster.local/ns/shop/sa/${from}`;
  r.destinationWorkload = workload(to);
  r.destinationPrincipal = `spiffe://cluster.local/ns/shop/sa/${to}`;
  r.security = "mutual_tls";
  return r;
}

/** Sum of a metric's samples whose labels include `match`, from the registry's text format. */
async function sample(m: ZtunnelMetrics, name: string, match: Record<string, string>): Promise<number> {
  const text = await m.registry.metrics();
  let sum = 0;
  let seen = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(match).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    seen = true;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return seen ? sum : Number.NaN;
}

void describe("ZtunnelMetrics", () => {
  void it("counts opens, closes and bytes per label set, as Istio's TCP metrics", async () => {
    const { m } = metrics();
    const conns = [tunnel("web", "cart"), tunnel("web", "cart"), tunnel("web", "pay")];
    for (const r of conns) {
      r.opened = true;
      m.onOpen(r);
    }
    assert.equal(m.active, 3);
    assert.equal(await sample(m, "weft_ztunnel_active_connections", { direction: "outbound" }), 3);
    const cart = { destination_workload: "cart-deploy", reporter: "source" };
    assert.equal(await sample(m, "istio_tcp_connections_opened_total", cart), 2);
    assert.ok(
      Number.isNaN(await sample(m, "istio_tcp_connections_closed_total", cart)),
      "nothing closed yet",
    );

    conns[0]!.bytesFromClient = 1000;
    conns[0]!.bytesFromServer = 250_000;
    m.onClose(conns[0]!);
    // The second one is reset by the client: same peers, another response_flags label set.
    conns[1]!.bytesFromClient = 7;
    conns[1]!.responseFlags = "DC";
    m.onClose(conns[1]!);
    assert.equal(m.active, 1);
    assert.equal(await sample(m, "weft_ztunnel_active_connections", { direction: "outbound" }), 1);
    assert.equal(await sample(m, "istio_tcp_connections_closed_total", cart), 2);
    assert.equal(await sample(m, "istio_tcp_connections_closed_total", { ...cart, response_flags: "DC" }), 1);
    assert.equal(await sample(m, "istio_tcp_received_bytes_total", cart), 1007);
    assert.equal(await sample(m, "istio_tcp_sent_bytes_total", cart), 250_000);
    // A label set that moved no bytes in a direction has no sample there, as before.
    assert.ok(Number.isNaN(await sample(m, "istio_tcp_sent_bytes_total", { response_flags: "DC" })));
    // The opened counter still has its two opens under the "-" flags they were opened with.
    assert.equal(await sample(m, "istio_tcp_connections_opened_total", { ...cart, response_flags: "-" }), 2);
    // Scraping twice does not double anything (each scrape copies the totals afresh).
    assert.equal(await sample(m, "istio_tcp_received_bytes_total", cart), 1007);
    assert.equal(
      await sample(m, "istio_tcp_connections_opened_total", { destination_workload: "pay-deploy" }),
      1,
    );
  });

  void it("counts a refused connection only as refused, and logs one access line per connection", async () => {
    const { m, lines } = metrics();
    const r = tunnel("web", "cart");
    r.responseFlags = "DENY";
    r.reason = "NO_ALLOW_MATCH";
    m.onClose(r);
    assert.equal(m.active, 0);
    assert.equal(await sample(m, "weft_ztunnel_connections_refused_total", { response_flags: "DENY" }), 1);
    assert.ok(Number.isNaN(await sample(m, "istio_tcp_connections_closed_total", {})));
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as { response_flags: string; reason: string; msg: string };
    assert.deepEqual(
      [line.response_flags, line.reason, line.msg],
      ["DENY", "NO_ALLOW_MATCH", "connection complete"],
    );
  });
});
