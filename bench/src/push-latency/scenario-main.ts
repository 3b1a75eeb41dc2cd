// One scenario in a process of its own (forked by push-latency.bench.ts): a fresh heap, so peak RSS
// and CPU belong to this scenario alone. Options arrive as JSON in argv[2]; the result goes back
// over IPC; progress lines go to stderr.
import { runScenario, type ScenarioOptions } from "./scenario.js";

const opts = JSON.parse(process.argv[2] ?? "{}") as ScenarioOptions;
runScenario({ ...opts, log: (line) => process.stderr.write(`  ${line}\n`) }).then(
  (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
  (err: unknown) => {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.send?.({ ok: false, error: message }, () => process.exit(1));
  },
);
