// Push debouncing (DESIGN §6): wait until changes stop for `quietMs`, but never longer than
// `maxMs` after the first change, so a burst of a thousand changes becomes a handful of pushes
// and a steady trickle still gets pushed at a bounded delay.

export interface DebounceOptions {
  /** Fire once no change has arrived for this long. */
  readonly quietMs: number;
  /** Fire at the latest this long after the first pending change. */
  readonly maxMs: number;
  /**
   * A change after at least `quietMs` without one fires on the next turn of the event loop
   * instead of waiting `quietMs`: an isolated change is pushed at once (as Linkerd's destination
   * service does), while what arrives in the same turn still goes with it and later changes of a
   * burst are debounced as usual.
   */
  readonly immediateWhenIdle?: boolean;
}

export const DEFAULT_DEBOUNCE: DebounceOptions = { quietMs: 10, maxMs: 100, immediateWhenIdle: true };

/** The timer functions the debouncer uses; injectable so tests can drive time by hand. */
export interface Timers {
  readonly now: () => number;
  readonly setTimeout: (fn: () => void, ms: number) => unknown;
  readonly clearTimeout: (handle: unknown) => void;
}

export const REAL_TIMERS: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** When the pending batch should fire, given when it started and the last change (pure). */
export function fireAt(firstAt: number, lastAt: number, opts: DebounceOptions): number {
  return Math.min(lastAt + opts.quietMs, firstAt + opts.maxMs);
}

export class Debouncer {
  readonly #opts: DebounceOptions;
  readonly #fire: () => void;
  readonly #timers: Timers;
  #firstAt: number | undefined;
  #timer: unknown;
  /** The armed timer is an immediate (idle) fire: later changes of this turn ride along. */
  #immediate = false;
  #lastFireAt: number | undefined;

  constructor(opts: DebounceOptions, fire: () => void, timers: Timers = REAL_TIMERS) {
    this.#opts = opts;
    this.#fire = fire;
    this.#timers = timers;
  }

  get pending(): boolean {
    return this.#firstAt !== undefined;
  }

  /** Records a change; (re)arms the timer. */
  trigger(): void {
    const now = this.#timers.now();
    if (this.#immediate) return;
    if (
      this.#firstAt === undefined &&
      this.#opts.immediateWhenIdle === true &&
      (this.#lastFireAt === undefined || now - this.#lastFireAt >= this.#opts.quietMs)
    ) {
      this.#firstAt = now;
      this.#immediate = true;
      this.#timer = this.#timers.setTimeout(() => this.flush(), 0);
      return;
    }
    this.#firstAt ??= now;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    const delay = Math.max(0, fireAt(this.#firstAt, now, this.#opts) - now);
    this.#timer = this.#timers.setTimeout(() => this.flush(), delay);
  }

  /** Fires now if anything is pending. */
  flush(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#immediate = false;
    if (this.#firstAt === undefined) return;
    this.#firstAt = undefined;
    this.#lastFireAt = this.#timers.now();
    this.#fire();
  }

  cancel(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#immediate = false;
    this.#firstAt = undefined;
  }
}
