// `npm start`: the local L4 mesh demo (root). See examples/demo/README.md for what it shows.
// Usage: node test/dist/src/mesh/demo.js [--once]
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startServer, tcpEcho } from "../netns/clients.js";
import { sweepStale } from "../netns/record.js";
import { Mesh, metricSum } from "./index.js";

const ECHO = 7000;
const POLICIES = fileURLToPath(new URL("../../../../examples/demo/policies.yaml", import.meta.url));
const ORDERS_VIP = "10.96.0.10";
const PAYMENTS_VIP = "10.96.0.11";

interface AccessLine {
  direction: string;
  src: { ip: string; identity?: string };
  dst: { addr: string; workload?: string; identity?: string };
  response_flags: string;
  reason?: string;
  security: string;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ")).join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { once: { type: "boolean", default: false } } });
  const swept = await sweepStale();
  if (swept.length > 0) console.log(`swept leftovers of dead runs: ${swept.join(", ")}`);
  console.log("building the mesh: 2 nodes, the controller, a ztunnel per node, 6 pods ...");
  const mesh = await Mesh.create({
    nodes: ["node-a", "node-b"],
    pods: [
      { name: "frontend", node: "node-a" },
      { name: "intruder", node: "node-a" },
      { name: "orders-a", node: "node-a", app: "orders", serviceAccount: "orders" },
      { name: "orders-b", node: "node-b", app: "orders", serviceAccount: "orders" },
      { name: "payments", node: "node-b", app: "payments", serviceAccount: "payments" },
      { name: "outsider", node: "node-a", enrol: false },
    ],
    services: [
      { name: "orders", vip: ORDERS_VIP, app: "orders", ports: [{ port: 80, targetPort: ECHO }] },
      { name: "payments", vip: PAYMENTS_VIP, app: "payments", ports: [{ port: 80, targetPort: ECHO }] },
    ],
    extraYaml: await readFile(POLICIES, "utf8"),
  });
  let stopping = false;
  const teardown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await mesh.destroy();
    console.log("\ntorn down: namespaces, cgroups, processes, eBPF pins and files removed");
  };
  process.once("SIGINT", () => {
    console.log("\ninterrupted");
    void teardown().then(() => process.exit(0));
  });
  try {
    const w = mesh.world;
    for (const p of ["orders-a", "orders-b", "payments"]) await startServer(w, p, "tcp-echo", ECHO);
    console.log(`\n${w.describe()}\n`);

    const runs: [string, string, string][] = [
      ["frontend", ORDERS_VIP, "orders (VIP)"],
      ["frontend", ORDERS_VIP, "orders (VIP)"],
      ["frontend", ORDERS_VIP, "orders (VIP)"],
      ["frontend", ORDERS_VIP, "orders (VIP)"],
      ["orders-a", PAYMENTS_VIP, "payments (VIP)"],
      ["frontend", PAYMENTS_VIP, "payments (VIP)"],
      ["intruder", w.pod("payments").ipv4, "payments (pod IP)"],
      ["outsider", w.pod("payments").ipv4, "payments, plaintext from outside the mesh"],
    ];
    const rows = [["from", "to", "result", "answered by"]];
    for (const [from, host, label] of runs) {
      let result: string;
      let by = "";
      try {
        const r = await tcpEcho(w, from, {
          host,
          port: host.startsWith("10.96.") ? 80 : ECHO,
          bytes: 64 * 1024,
        });
        result = r.ok ? "ok, 64 KiB echoed" : "corrupted";
        by = r.serverSaw?.local.address ?? "";
        const pod = w.pods.find((p) => p.ipv4 === by);
        if (pod !== undefined) by = `${pod.name} ${by}`;
      } catch {
        result = "refused";
      }
      rows.push([from, label, result, by]);
    }
    console.log(table(rows));

    await new Promise((r) => setTimeout(r, 500));
    const inbound: AccessLine[] = [];
    for (const z of mesh.ztunnels.values()) {
      const { stdout } = await z.process.logs();
      for (const line of stdout.split("\n")) {
        if (!line.includes('"msg":"connection complete"')) continue;
        const a = JSON.parse(line) as AccessLine;
        if (a.direction === "inbound") inbound.push(a);
      }
    }
    console.log("\nwhat the ztunnels in front of the servers saw (access log, inbound):");
    const seen = [["peer identity (verified mTLS)", "to", "decision", "flags"]];
    for (const a of inbound) {
      seen.push([
        a.src.identity ?? `(plaintext from ${a.src.ip})`,
        `${a.dst.workload ?? "?"} ${a.dst.addr}`,
        a.response_flags === "-" ? "allowed" : (a.reason ?? "refused"),
        a.response_flags,
      ]);
    }
    console.log(table(seen));

    console.log("\nIstio metrics (scraped from :15020 on both nodes):");
    const summary = [
      ["node", "reporter", "connections opened", "bytes client→server", "bytes server→client", "refused"],
    ];
    for (const node of mesh.spec.nodes) {
      const text = await mesh.scrape(node);
      for (const reporter of ["source", "destination"]) {
        summary.push([
          node,
          reporter,
          String(metricSum(text, "istio_tcp_connections_opened_total", { reporter })),
          String(metricSum(text, "istio_tcp_received_bytes_total", { reporter })),
          String(metricSum(text, "istio_tcp_sent_bytes_total", { reporter })),
          String(
            metricSum(text, "weft_ztunnel_connections_refused_total", {
              direction: reporter === "source" ? "outbound" : "inbound",
            }),
          ),
        ]);
      }
    }
    console.log(table(summary));
    if (!values.once) {
      console.log(
        `\nthe mesh is up. Try: ip netns exec ${w.node("node-a").netns} curl -s localhost:15000/config_dump — Ctrl-C to tear down`,
      );
      await new Promise<never>(() => undefined);
    }
  } finally {
    await teardown();
  }
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
