// The enrol API server: node:http on a unix socket (root-only, mode 0600), JSON in and out, one
// route table. Requests map to Redirector calls; WeftErrors map to status codes (protocol.ts).
import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { dirname } from "node:path";
import { isWeftError, weftError, type Logger } from "@weft/core";
import type { PodRecord, PodSpec } from "../redirect/pod.js";
import { MAX_BODY_BYTES, statusOf, type EnrollRequest, type UnenrollRequest } from "./protocol.js";

/** What the API needs from the agent: the Redirector plus cgroup discovery. */
export interface EnrolService {
  enroll(req: EnrollRequest): Promise<PodRecord>;
  unenroll(req: UnenrollRequest): Promise<boolean>;
  pods(): PodRecord[];
}

export type { PodSpec };

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, "WEFT_E_INVALID_INPUT", `request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (e) {
        reject(
          weftError("WEFT_E_INVALID_INPUT", `request body is not JSON: ${(e as Error).message}`, undefined, {
            fix: "send a JSON object with content-type application/json",
          }),
        );
      }
    });
    req.on("error", reject);
  });
}

async function route(service: EnrolService, req: http.IncomingMessage): Promise<unknown> {
  const url = new URL(req.url ?? "/", "http://agent");
  const path = url.pathname;
  const method = req.method ?? "GET";
  const only = (m: string): void => {
    if (method !== m) throw new HttpError(405, "WEFT_E_INVALID_INPUT", `${path} takes ${m}, not ${method}`);
  };
  if (path === "/enroll") {
    only("POST");
    return { pod: await service.enroll((await readJson(req)) as EnrollRequest) };
  }
  if (path === "/unenroll") {
    only("POST");
    const body = (await readJson(req)) as UnenrollRequest | null;
    const uid = body?.uid;
    const containerId = body?.containerId;
    if (
      (uid === undefined || typeof uid === "string") &&
      (containerId === undefined || typeof containerId === "string") &&
      (uid ?? containerId) !== undefined
    ) {
      return {
        removed: await service.unenroll({ ...(uid ? { uid } : {}), ...(containerId ? { containerId } : {}) }),
      };
    }
    throw weftError("WEFT_E_INVALID_INPUT", "unenroll needs a uid or a containerId string", undefined, {
      fix: 'send {"uid":"<pod uid>"} or {"containerId":"<sandbox id>"}',
    });
  }
  if (path === "/pods") {
    only("GET");
    return { pods: service.pods() };
  }
  if (path.startsWith("/pods/")) {
    only("GET");
    const uid = decodeURIComponent(path.slice("/pods/".length));
    const pod = service.pods().find((p) => p.uid === uid);
    if (pod === undefined) throw new HttpError(404, "WEFT_E_NOT_FOUND", `pod ${uid} is not enrolled`);
    return { pod };
  }
  if (path === "/healthz") {
    only("GET");
    return { ok: true };
  }
  throw new HttpError(404, "WEFT_E_NOT_FOUND", `no route ${method} ${path}`);
}

function errorBody(err: unknown): { status: number; body: unknown } {
  if (err instanceof HttpError) {
    return { status: err.status, body: { error: { code: err.code, message: err.message } } };
  }
  if (isWeftError(err)) {
    return {
      status: statusOf(err.code),
      body: { error: { code: err.code, message: err.message, reason: err.reason, fix: err.fix } },
    };
  }
  return {
    status: 500,
    body: { error: { code: "WEFT_E_INTERNAL", message: err instanceof Error ? err.message : String(err) } },
  };
}

/** Remove a socket file left by a dead agent; refuse to steal one a live agent serves. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) {
    throw weftError(
      "WEFT_E_CONFLICT",
      `another agent is serving ${path}`,
      { path },
      {
        fix: "stop the other agent, or give this one another WEFT_CNI_SOCKET",
      },
    );
  }
  unlinkSync(path);
}

export interface ApiServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

export async function serveApi(service: EnrolService, socketPath: string, log?: Logger): Promise<ApiServer> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
  await clearStaleSocket(socketPath);
  const server = http.createServer((req, res) => {
    const started = Date.now();
    route(service, req)
      .then((body) => ({ status: 200, body }))
      .catch((err: unknown) => errorBody(err))
      .then(({ status, body }) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
        });
        res.end(text);
        log?.info({ method: req.method, path: req.url, status, ms: Date.now() - started }, "enrol api");
      })
      .catch((err: unknown) => log?.error({ err }, "enrol api response failed"));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
