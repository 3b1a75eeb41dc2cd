// Graceful shutdown: count in-flight work (connections, streams, requests), refuse new work once
// draining starts, and wait for the count to reach zero or a deadline, after which the owners of
// the remaining work are told to force-close it (destroy sockets, reset streams).
import { weftError } from "./errors.js";

export interface DrainResult {
  /** How many units of work were still in flight at the deadline (0 when all finished in time). */
  forced: number;
}

export class Drain {
  #inFlight = 0;
  #draining = false;
  #result: Promise<DrainResult> | undefined;
  #onIdle: (() => void) | undefined;
  readonly #forceCallbacks = new Set<() => void>();

  /** In-flight units of work right now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  get isDraining(): boolean {
    return this.#draining;
  }

  /**
   * Registers one unit of work and returns its release function (safe to call more than once).
   * Throws WEFT_E_UNAVAILABLE once draining has begun, so callers refuse the new connection.
   */
  enter(): () => void {
    if (this.#draining) {
      throw weftError(
        "WEFT_E_UNAVAILABLE",
        "shutting down: not accepting new work while draining",
        undefined,
        {
          fix: "retry against another replica; this one is going away",
        },
      );
    }
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      if (this.#inFlight === 0) this.#onIdle?.();
    };
  }

  /**
   * Tracks a promise as one unit of work until it settles, and returns it. Pass a function to have
   * it called only if work is still accepted: with an already-started promise, a throw here while
   * draining leaves that promise's outcome to the caller.
   */
  track<T>(work: Promise<T> | (() => Promise<T>)): Promise<T> {
    const release = this.enter();
    let promise: Promise<T>;
    try {
      promise = typeof work === "function" ? work() : work;
    } catch (err) {
      release();
      throw err;
    }
    return promise.finally(release);
  }

  /**
   * Called at the drain deadline if work remains; it should abort that work (destroy sockets).
   * Returns an unregister function.
   */
  onForce(callback: () => void): () => void {
    this.#forceCallbacks.add(callback);
    return () => this.#forceCallbacks.delete(callback);
  }

  /**
   * Stops accepting work and resolves when in-flight work reaches zero, or at `deadlineMs` after
   * calling the `onForce` callbacks. Calling it again returns the same result.
   */
  drain(deadlineMs: number): Promise<DrainResult> {
    this.#draining = true;
    this.#result ??= new Promise<DrainResult>((resolve) => {
      if (this.#inFlight === 0) {
        resolve({ forced: 0 });
        return;
      }
      const timer = setTimeout(() => {
        this.#onIdle = undefined;
        const forced = this.#inFlight;
        for (const callback of this.#forceCallbacks) {
          try {
            callback();
          } catch {
            // One failing owner must not keep the others' work alive; its work is counted as forced.
          }
        }
        resolve({ forced });
      }, deadlineMs);
      this.#onIdle = () => {
        clearTimeout(timer);
        this.#onIdle = undefined;
        resolve({ forced: 0 });
      };
    });
    return this.#result;
  }
}

export type SignalHandler = (signal: NodeJS.Signals) => void;

/**
 * Calls `handler` on the first of `signals`, then removes itself from all of them, so a second
 * Ctrl-C falls through to Node's default (exit) when the graceful path hangs. Returns an uninstall
 * function for tests and for components that stop without a signal.
 */
export function onSignal(signals: readonly NodeJS.Signals[], handler: SignalHandler): () => void {
  const uninstall = (): void => {
    for (const s of signals) process.off(s, listener);
  };
  const listener = (signal: NodeJS.Signals): void => {
    uninstall();
    handler(signal);
  };
  for (const s of signals) process.on(s, listener);
  return uninstall;
}
