// Exponential backoff with jitter, and an abortable retry loop on top of it. Jitter keeps many
// ztunnels from reconnecting to a restarted controller in lockstep.
import { setTimeout as sleep } from "node:timers/promises";
import { weftError } from "./errors.js";

/**
 * "full": uniform in [0, ceiling] — spreads load best (the AWS architecture blog's recommendation).
 * "equal": uniform in [ceiling/2, ceiling] — never retries almost immediately.
 * "none": exactly the ceiling — for tests and for callers that add their own jitter.
 */
export type Jitter = "full" | "equal" | "none";

export interface BackoffOptions {
  /** Ceiling of the first delay. */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /** Growth per attempt; default 2. */
  factor?: number;
  /** Default "full". */
  jitter?: Jitter;
  /** A source of numbers in [0, 1); inject a fixed sequence for deterministic tests. */
  random?: () => number;
}

export class Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: Jitter;
  readonly #random: () => number;
  #ceiling: number;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    const { baseMs, maxMs, factor = 2, jitter = "full", random = Math.random } = options;
    if (!(Number.isFinite(baseMs) && baseMs > 0)) {
      throw weftError("WEFT_E_INVALID_INPUT", `backoff baseMs must be a positive number, got ${baseMs}`);
    }
    if (!(maxMs >= baseMs)) {
      throw weftError("WEFT_E_INVALID_INPUT", `backoff maxMs (${maxMs}) must be >= baseMs (${baseMs})`);
    }
    if (!(Number.isFinite(factor) && factor >= 1)) {
      throw weftError("WEFT_E_INVALID_INPUT", `backoff factor must be a number >= 1, got ${factor}`);
    }
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.factor = factor;
    this.jitter = jitter;
    this.#random = random;
    this.#ceiling = baseMs;
  }

  /** How many delays `next()` has handed out since construction or the last `reset()`. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay in whole milliseconds, and advances the ceiling. */
  next(): number {
    const ceiling = this.#ceiling;
    // Grow by multiplication and clamp, rather than baseMs * factor ** attempt, so the ceiling
    // never overflows to Infinity however many attempts a long outage produces.
    this.#ceiling = Math.min(this.maxMs, ceiling * this.factor);
    this.#attempt++;
    switch (this.jitter) {
      case "none":
        return Math.round(ceiling);
      case "full":
        return Math.round(this.#random() * ceiling);
      case "equal":
        return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
    }
  }

  /** Back to the first delay, e.g. after a connection has stayed up. */
  reset(): void {
    this.#ceiling = this.baseMs;
    this.#attempt = 0;
  }
}

export interface RetryOptions {
  /** A Backoff (reset at the start) or the options to build one. */
  backoff: Backoff | BackoffOptions;
  /** Total tries including the first; default Infinity (until success, abort or non-retryable error). */
  attempts?: number;
  /** Aborting stops waiting at once and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Whether an error is worth another try; default: every error is. */
  retryable?: (err: unknown, attempt: number) => boolean;
  /** Called before each wait, e.g. to log `attempt`, `delayMs` and the error. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Calls `fn` until it resolves, waiting a backoff delay between tries. Rejects with the last error
 * when attempts run out or `retryable` says no, and with `signal.reason` when aborted. `fn` gets the
 * 1-based attempt number and the signal, to pass on to the I/O it does.
 */
export async function retry<T>(
  fn: (attempt: number, signal: AbortSignal | undefined) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { signal, attempts = Infinity, retryable = () => true, onRetry } = options;
  if (!(attempts >= 1)) {
    throw weftError("WEFT_E_INVALID_INPUT", `retry attempts must be >= 1, got ${attempts}`);
  }
  const backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
  backoff.reset();
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt, signal);
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      if (attempt >= attempts || !retryable(err, attempt)) throw err;
      const delayMs = backoff.next();
      onRetry?.(err, attempt, delayMs);
      await wait(delayMs, signal);
    }
  }
}

async function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal === undefined ? undefined : { signal });
  } catch (err) {
    // timers/promises rejects with its own AbortError; callers expect the reason they aborted with.
    if (signal?.aborted === true) throw signal.reason;
    throw err;
  }
}
