// The echo response shared by the HTTP/1.1 and HTTP/2 servers (node:http2's compatibility API
// has the same request/response shape as node:http).
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { endpoint } from "./common.js";

export interface EchoReport {
  readonly method: string;
  readonly path: string;
  readonly httpVersion: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly remote: { address: string; port: number };
  readonly local: { address: string; port: number };
}

/** What both node:http and node:http2 responses offer; a union of the two is not callable. */
interface Reply {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(body: string): unknown;
}

export function echo(req: IncomingMessage | Http2ServerRequest, res: Reply): void {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const report: EchoReport = {
      method: req.method ?? "",
      path: req.url ?? "",
      httpVersion: req.httpVersion,
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
      remote: endpoint(req.socket.remoteAddress, req.socket.remotePort),
      local: endpoint(req.socket.localAddress, req.socket.localPort),
    };
    const body = JSON.stringify(report);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
}
