// @weft/bench: benchmarks run by `npm run bench` (see bench/README.md). The library surface is
// what the bench's own tests drive.
export { percentile, round, summarize, type Summary } from "./stats.js";
export {
  runScenario,
  scenarioName,
  type ChangeResult,
  type CpuFigures,
  type FleetMode,
  type ScenarioOptions,
  type ScenarioResult,
} from "./push-latency/scenario.js";
export { World, type Mutation, type MutationKind } from "./push-latency/world.js";
export {
  SCENARIOS as REDIRECT_SCENARIOS,
  connectRateMarkdown,
  summarizeConnectRate,
  type Capture,
  type ConnectFigures,
  type ConnectSummary,
  type Direction,
} from "./redirect/connect-rate.js";
export {
  cpuPer1000,
  cpuTicksFromStat,
  evaluateTargets,
  parseFortio,
  parseIperf,
  renderMeshL4,
  rssKiBFromStatus,
  summarizeProfile,
  type FortioFigures,
  type IperfFigures,
  type MeshL4Scenario,
  type RowFigures,
  type TargetResult,
} from "./mesh-l4/figures.js";
