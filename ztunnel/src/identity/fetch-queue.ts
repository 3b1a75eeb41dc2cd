// A bounded-concurrency queue with two priorities. A node that starts with a hundred pods must
// not open a hundred CA calls at once (the CA signs on two cores, and every call holds a key
// pair), and a connection waiting for its certificate must not queue behind refreshes and
// prefetches nobody is waiting for.

/** "high": a connection is waiting (on-path). "low": prefetch or refresh, nobody is waiting. */
export type FetchPriority = "high" | "low";

export class FetchQueue<T> {
  readonly maxConcurrent: number;
  readonly #run: (item: T) => Promise<void>;
  readonly #high: T[] = [];
  readonly #low: T[] = [];
  readonly #inFlight = new Map<T, FetchPriority>();
  #closed = false;

  /** `run` does one item's work; its rejections are swallowed (it must handle its own errors). */
  constructor(maxConcurrent: number, run: (item: T) => Promise<void>) {
    this.maxConcurrent = Math.max(1, Math.floor(maxConcurrent));
    this.#run = run;
  }

  /**
   * Queues `item` unless it is already queued or running. Asking again with "high" for an item
   * queued as "low" moves it to the end of the high queue: it was waiting for nobody until now.
   */
  enqueue(item: T, priority: FetchPriority): void {
    if (this.#closed || this.#inFlight.has(item) || this.#high.includes(item)) return;
    const lowAt = this.#low.indexOf(item);
    if (lowAt >= 0) {
      if (priority === "low") return;
      this.#low.splice(lowAt, 1);
    }
    (priority === "high" ? this.#high : this.#low).push(item);
    this.#pump();
  }

  /** Drops a queued item; one already running finishes (its caller discards the result). */
  remove(item: T): void {
    for (const queue of [this.#high, this.#low]) {
      const at = queue.indexOf(item);
      if (at >= 0) queue.splice(at, 1);
    }
  }

  /** The priority `item` is queued or running with, or undefined when it is neither. */
  priorityOf(item: T): FetchPriority | undefined {
    if (this.#inFlight.has(item)) return this.#inFlight.get(item);
    if (this.#high.includes(item)) return "high";
    if (this.#low.includes(item)) return "low";
    return undefined;
  }

  get running(): number {
    return this.#inFlight.size;
  }

  get queued(): number {
    return this.#high.length + this.#low.length;
  }

  /** Nothing queued starts any more; running items finish. */
  close(): void {
    this.#closed = true;
    this.#high.length = 0;
    this.#low.length = 0;
  }

  #pump(): void {
    while (!this.#closed && this.#inFlight.size < this.maxConcurrent) {
      const priority: FetchPriority | undefined =
        this.#high.length > 0 ? "high" : this.#low.length > 0 ? "low" : undefined;
      if (priority === undefined) return;
      const item = (priority === "high" ? this.#high : this.#low).shift() as T;
      this.#inFlight.set(item, priority);
      void Promise.resolve()
        .then(() => this.#run(item))
        .catch(() => undefined)
        .finally(() => {
          this.#inFlight.delete(item);
          this.#pump();
        });
    }
  }
}
