// redirect-connect (issue 5, DESIGN §11 "new-connection rate"): what eBPF capture costs a new
// connection. connect() rate and connect latency (p50/p99) from a pod with and without the
// connect4 hook, and the sk_lookup cost per inbound connection, as ratios against the no-capture
// baseline measured in the same run (redirect/connect-rate.ts). Needs root (netns, cgroups, BPF).
import type { Benchmark, BenchContext, BenchResult } from "./bench.js";
import {
  connectRateMarkdown,
  measureConnectRate,
  type ConnectRateResult,
  type ConnectSummary,
} from "./redirect/connect-rate.js";

const DESCRIPTION =
  "Capture cost per new connection: connect() rate and connect latency from an enrolled pod with no hook, with the hook running but passing, and captured (outbound connect4 + sockops → :15001; inbound sk_lookup → :15006), as ratios against the no-capture baseline of the same run.";

/** Why the benchmark cannot run here, or undefined when it can. */
export function redirectConnectUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, cgroups, BPF programs)";
  return undefined;
}

export const redirectConnect: Benchmark = {
  name: "redirect-connect",
  description: DESCRIPTION,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const why = redirectConnectUnavailable();
    if (why !== undefined) {
      ctx.log(`redirect-connect: skipped: ${why}`);
      return { name: this.name, description: this.description, scenarios: [], markdown: `Not run: ${why}.` };
    }
    const result: ConnectRateResult = await measureConnectRate({ quick: ctx.quick, log: ctx.log });
    return {
      name: this.name,
      description: this.description,
      // The summary rows (medians and ratios) first; every round's raw figures after them.
      scenarios: [...result.summary, { rounds: result.rounds }],
      markdown: connectRateMarkdown(result.summary),
    };
  },
  render: (scenarios) =>
    connectRateMarkdown(
      scenarios.filter((s): s is ConnectSummary => typeof s === "object" && s !== null && "scenario" in s),
    ),
};
