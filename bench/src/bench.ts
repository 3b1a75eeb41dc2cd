// What a benchmark is to the runner (run.ts): a name, and a run that returns its results and the
// Markdown table summarizing them.

export interface BenchContext {
  readonly quick: boolean;
  /** Directory for CPU profiles when --cpu-prof was given. */
  readonly profileDir: string | undefined;
  readonly log: (line: string) => void;
}

export interface BenchResult {
  readonly name: string;
  readonly description: string;
  /** Benchmark-specific figures, written to the JSON results as they are. */
  readonly scenarios: readonly unknown[];
  /** Markdown (a table and notes) for the results file and bench/README.md. */
  readonly markdown: string;
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<BenchResult>;
  /** The Markdown for stored scenarios (run.ts --render). */
  render?(scenarios: readonly unknown[]): string;
}
