// Demo of the netns testbed (root): builds the standard 2-node/4-pod world, prints it, proves
// connectivity with a checksummed TCP echo pod→pod on the same node and across nodes (IPv4 and
// IPv6), then tears everything down. Ctrl-C at any point cleans up too.
// Usage: node test/dist/src/netns/demo.js [--hold]   (--hold keeps the world up until Ctrl-C)
import { parseArgs } from "node:util";
import { startServer, tcpEcho } from "./clients.js";
import { WeftError } from "./errors.js";
import { sweepStale } from "./record.js";
import { STANDARD_TOPOLOGY } from "./spec.js";
import { createWorld, type World } from "./world.js";

const ECHO_PORT = 7000;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { hold: { type: "boolean", default: false } } });
  process.once("SIGINT", () => console.log("\ninterrupted: tearing the world down"));

  const swept = await sweepStale();
  if (swept.length > 0) console.log(`swept leftovers of dead runs: ${swept.join(", ")}`);

  const started = Date.now();
  const world = await createWorld(STANDARD_TOPOLOGY);
  try {
    console.log(`built in ${Date.now() - started} ms\n`);
    console.log(world.describe());
    console.log();
    await proveConnectivity(world);
    if (values.hold) {
      console.log(
        "\nholding; try e.g. `ip netns exec",
        world.pod("pod-a1").netns,
        "ip route` — Ctrl-C to tear down",
      );
      await new Promise<never>(() => undefined); // the SIGINT handler destroys the world and exits
    }
  } finally {
    await world.destroy();
    console.log("\ntorn down: namespaces, cgroups, processes and logs removed");
  }
}

async function proveConnectivity(world: World): Promise<void> {
  await Promise.all([
    startServer(world, "pod-a2", "tcp-echo", ECHO_PORT),
    startServer(world, "pod-b1", "tcp-echo", ECHO_PORT),
  ]);
  const rows = [["from", "to", "path", "family", "server saw", "bytes", "sha256"]];
  for (const [to, path] of [
    ["pod-a2", "same node"],
    ["pod-b1", "across nodes"],
  ] as const) {
    for (const family of ["ipv4", "ipv6"] as const) {
      const target = world.pod(to)[family];
      const r = await tcpEcho(world, "pod-a1", { host: target, port: ECHO_PORT, bytes: 1 << 20 });
      const saw = r.serverSaw?.peer;
      rows.push([
        "pod-a1",
        `${to} ${target}`,
        path,
        family,
        saw === undefined ? "?" : `${saw.address} port ${saw.port}`,
        String(r.bytesReceived),
        r.ok ? "match" : "MISMATCH",
      ]);
      if (!r.ok) throw new Error(`TCP echo pod-a1 → ${to} (${target}) failed: ${JSON.stringify(r)}`);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, r] of rows.entries()) {
    console.log(
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd(),
    );
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof WeftError ? e.message : e);
  process.exitCode = 1;
});
