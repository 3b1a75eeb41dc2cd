// Typed helpers that run the test app clients inside a pod and return their parsed JSON result,
// plus helpers that start the matching servers. Addresses are plain strings; IPv6 literals are
// bracketed where a URL or gRPC target needs it.
import { isIPv6 } from "node:net";
import type { EchoReport } from "../apps/http-echo-handler.js";
import type { GrpcEchoReply } from "../apps/grpc-echo-service.js";
import type { PodProcess } from "./process.js";
import type { World } from "./world.js";

export type { EchoReport, GrpcEchoReply };

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface TcpEchoResult {
  readonly ok: boolean;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly sha256Sent: string;
  readonly sha256Received: string;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  /** What the server saw: the peer (client) address and its own local address. */
  readonly serverSaw: { readonly peer: Endpoint; readonly local: Endpoint } | null;
}

export interface HttpResult {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly body: EchoReport;
  readonly local: Endpoint;
}

export interface GrpcResult {
  readonly ok: boolean;
  readonly reply: GrpcEchoReply;
}

export interface DnsResult {
  readonly ok: boolean;
  readonly id: number;
  readonly rcode: string;
  readonly answers: readonly { name: string; type: string; data: unknown }[];
  readonly replyFrom: Endpoint;
}

export function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export type ServerApp = "tcp-echo" | "http-echo" | "h2-echo" | "grpc-echo" | "dns-server";

/** Starts a server app in `pod` on `port` (all addresses, both families) and waits until it listens. */
export async function startServer(
  world: World,
  pod: string,
  app: ServerApp,
  port: number,
  extraArgs: readonly string[] = [],
): Promise<PodProcess> {
  return (await world.startApp(pod, app, ["--port", String(port), ...extraArgs])).process;
}

export function tcpEcho(
  world: World,
  fromPod: string,
  to: { host: string; port: number; bytes?: number; seed?: number },
): Promise<TcpEchoResult> {
  return world.runApp<TcpEchoResult>(fromPod, "tcp-client", [
    "--host",
    to.host,
    "--port",
    String(to.port),
    "--bytes",
    String(to.bytes ?? 256 * 1024),
    "--seed",
    String(to.seed ?? 1),
  ]);
}

export function httpRequest(
  world: World,
  fromPod: string,
  req: {
    host: string;
    port: number;
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    http2?: boolean;
  },
): Promise<HttpResult> {
  const args = [
    "--url",
    `http://${hostPort(req.host, req.port)}${req.path ?? "/"}`,
    "--method",
    req.method ?? "GET",
  ];
  for (const [k, v] of Object.entries(req.headers ?? {})) args.push("--header", `${k}:${v}`);
  if (req.body !== undefined) args.push("--body", req.body);
  if (req.http2 === true) args.push("--h2");
  return world.runApp<HttpResult>(fromPod, "http-client", args);
}

export function grpcEcho(
  world: World,
  fromPod: string,
  req: { host: string; port: number; message: string; metadata?: Record<string, string> },
): Promise<GrpcResult> {
  const args = ["--target", hostPort(req.host, req.port), "--message", req.message];
  for (const [k, v] of Object.entries(req.metadata ?? {})) args.push("--metadata", `${k}:${v}`);
  return world.runApp<GrpcResult>(fromPod, "grpc-client", args);
}

export function dnsQuery(
  world: World,
  fromPod: string,
  req: { server: string; port?: number; name: string; type?: "A" | "AAAA" },
): Promise<DnsResult> {
  return world.runApp<DnsResult>(fromPod, "dns-client", [
    "--server",
    req.server,
    "--port",
    String(req.port ?? 53),
    "--name",
    req.name,
    "--type",
    req.type ?? "A",
  ]);
}
