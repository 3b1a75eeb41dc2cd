// The fleet in a child process, so the controller's CPU and RSS can be measured on their own.
// Parent and child talk over Node's IPC channel with numbered requests; the child is
// fleet-child.ts. The child is killed by PID if it does not exit after close().
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { epochNow, type ExpectedResource, type Fleet, type FleetOptions, type FleetUsage } from "./fleet.js";

const CHILD = fileURLToPath(new URL("./fleet-child.js", import.meta.url));

export interface FleetRequest {
  readonly id: number;
  readonly method: "start" | "waitSynced" | "expect" | "waitObserved" | "now" | "usage" | "close";
  readonly args: readonly unknown[];
}

export type FleetReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

export class RemoteFleet implements Fleet {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 0;
  #exited = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (m: FleetReply) => {
      const w = this.#waiting.get(m.id);
      if (w === undefined) return;
      this.#waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`fleet child: ${m.error}`));
    });
    child.once("exit", (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiting.values()) w.reject(new Error(`fleet child exited (${code ?? signal})`));
      this.#waiting.clear();
    });
  }

  /** Forks the child with `opts`; `execArgv` e.g. to profile it too. */
  static async spawn(opts: FleetOptions, execArgv: readonly string[] = []): Promise<RemoteFleet> {
    const child = fork(CHILD, [JSON.stringify(opts)], {
      execPath: process.execPath,
      execArgv: [...execArgv],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "json",
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    return new RemoteFleet(child);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #call<T>(method: FleetRequest["method"], ...args: unknown[]): Promise<T> {
    if (this.#exited) return Promise.reject(new Error("fleet child has exited"));
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.send({ id, method, args } satisfies FleetRequest);
    });
  }

  start(addressCount: number): Promise<void> {
    return this.#call("start", addressCount);
  }
  waitSynced(timeoutMs: number): Promise<(number | null)[]> {
    return this.#call("waitSynced", timeoutMs);
  }
  expect(changeId: number, resources: readonly ExpectedResource[]): Promise<void> {
    return this.#call("expect", changeId, resources);
  }
  waitObserved(changeId: number, timeoutMs: number): Promise<(number | null)[]> {
    return this.#call("waitObserved", changeId, timeoutMs);
  }
  usage(): Promise<FleetUsage> {
    return this.#call("usage");
  }

  /**
   * The child's epoch clock minus ours. Both read the same system clock, but each process fixes
   * its timeOrigin at start; the round trip with the smallest delay bounds the error by half of it.
   */
  async clockOffset(): Promise<number> {
    let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
    for (let i = 0; i < 20; i++) {
      const sent = epochNow();
      const theirs = await this.#call<number>("now");
      const received = epochNow();
      if (received - sent < best.rtt) best = { rtt: received - sent, offset: theirs - (sent + received) / 2 };
    }
    return best.offset;
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once("exit", () => resolve()));
    const timer = setTimeout(() => {
      if (!this.#exited && this.#child.pid !== undefined) process.kill(this.#child.pid, "SIGKILL");
    }, 10_000);
    try {
      await this.#call("close");
    } catch {
      /* it may exit before replying */
    }
    await exited;
    clearTimeout(timer);
  }
}
