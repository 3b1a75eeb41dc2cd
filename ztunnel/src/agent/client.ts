// Client of the agent's enrol API over its unix socket. node:http only, so the CNI plugin that
// uses it starts fast.
import http from "node:http";
import type { ApiErrorBody, EnrollRequest, UnenrollRequest } from "./protocol.js";

export interface AgentResponse<T> {
  readonly status: number;
  readonly body: T | ApiErrorBody;
}

/** The agent answered with an error status. */
export class AgentError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "AgentError";
  }
}

/** The agent could not be reached (not running, socket missing, timeout). */
export class AgentUnreachable extends Error {
  constructor(
    readonly socketPath: string,
    readonly errno: string,
    message: string,
  ) {
    super(message);
    this.name = "AgentUnreachable";
  }
}

export class AgentClient {
  constructor(
    readonly socketPath: string,
    readonly timeoutMs = 10_000,
  ) {}

  enroll(req: EnrollRequest): Promise<{ pod: Record<string, unknown> }> {
    return this.#ok("POST", "/enroll", req);
  }

  unenroll(req: UnenrollRequest): Promise<{ removed: boolean }> {
    return this.#ok("POST", "/unenroll", req);
  }

  pods(): Promise<{ pods: Record<string, unknown>[] }> {
    return this.#ok("GET", "/pods");
  }

  /** The pod, or undefined when the agent does not know it. */
  async pod(uid: string): Promise<Record<string, unknown> | undefined> {
    const r = await this.request<{ pod: Record<string, unknown> }>("GET", `/pods/${encodeURIComponent(uid)}`);
    if (r.status === 404) return undefined;
    return unwrap(r).pod;
  }

  health(): Promise<{ ok: boolean }> {
    return this.#ok("GET", "/healthz");
  }

  async #ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    return unwrap(await this.request<T>(method, path, body));
  }

  /** One request; resolves with any HTTP answer, rejects with AgentUnreachable otherwise. */
  request<T>(method: string, path: string, body?: unknown): Promise<AgentResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {},
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T | ApiErrorBody });
            } catch {
              reject(
                new AgentUnreachable(
                  this.socketPath,
                  "EPROTO",
                  `agent answered ${res.statusCode} with non-JSON: ${text.slice(0, 200)}`,
                ),
              );
            }
          });
          res.on("error", (e) => reject(unreachable(this.socketPath, e)));
        },
      );
      req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
      req.on("error", (e) => reject(unreachable(this.socketPath, e)));
      req.end(payload);
    });
  }
}

function unreachable(socketPath: string, e: Error): AgentUnreachable {
  const errno = (e as NodeJS.ErrnoException).code ?? "EIO";
  return new AgentUnreachable(
    socketPath,
    errno,
    `the weft node agent is not reachable at ${socketPath} (${errno}: ${e.message})`,
  );
}

function unwrap<T>(r: AgentResponse<T>): T {
  if (r.status >= 200 && r.status < 300) return r.body as T;
  const err = (r.body as ApiErrorBody).error as ApiErrorBody["error"] | undefined;
  throw new AgentError(
    r.status,
    err?.code ?? "WEFT_E_INTERNAL",
    err?.message ?? `agent answered ${r.status}`,
  );
}
