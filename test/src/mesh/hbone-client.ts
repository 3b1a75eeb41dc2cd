// An HBONE client run inside a pod with certificates the test chose (good, foreign, expired,
// forged): it speaks to a ztunnel's :15008 exactly as a peer ztunnel would, using ztunnel's own
// client code, and prints one JSON line with what happened.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { World } from "../netns/index.js";

const ZTUNNEL_INDEX = fileURLToPath(new URL("../../../../ztunnel/dist/src/index.js", import.meta.url));

export type HboneProbeMode = "connect" | "get" | "garbage" | "big-headers";

export interface HboneProbeResult {
  readonly ok: boolean;
  readonly status?: number;
  readonly echoed?: string;
  readonly error?: string;
  readonly code?: string;
}

const SCRIPT = `
import { readFileSync } from "node:fs";
import net from "node:net";
import http2 from "node:http2";
const [modPath, host, port, authority, dir, expected, mode] = process.argv.slice(1);
const z = await import(modPath);
const out = (o) => { process.stdout.write(JSON.stringify(o) + "\\n"); process.exit(0); };
setTimeout(() => out({ ok: false, error: "timeout" }), 15000).unref();
if (mode === "garbage") {
  const s = net.connect({ host, port: Number(port) });
  s.on("connect", () => s.write(Buffer.from("GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\\u0000\\u00ff garbage")));
  s.on("data", () => {});
  s.on("error", (e) => out({ ok: false, error: e.code || e.message }));
  s.on("close", () => out({ ok: false, error: "closed by the server" }));
} else {
  const read = (f) => readFileSync(dir + "/" + f, "utf8");
  try {
    const ctx = z.createMeshSecureContext({ keyPem: read("key.pem"), certChainPem: read("chain.pem"), trustBundlePem: read("root.pem") });
    const session = await z.connectHboneSession({ host, port: Number(port), secureContext: ctx, expectedIdentities: [expected] });
    session.on("error", () => {});
    if (mode === "get" || mode === "big-headers") {
      const headers = mode === "get"
        ? { ":method": "GET", ":path": "/", ":scheme": "https", ":authority": authority }
        : { ":method": "CONNECT", ":authority": authority, "x-big": "x".repeat(100000) };
      const req = session.request(headers, { endStream: false });
      req.on("error", (e) => out({ ok: false, error: e.code || e.message }));
      req.on("response", (h) => out({ ok: false, status: Number(h[":status"]) }));
      req.on("close", () => out({ ok: false, error: "stream closed " + req.rstCode }));
    } else {
      const stream = await z.hboneConnect(session, { authority });
      const chunks = [];
      stream.on("data", (c) => chunks.push(c));
      stream.on("end", () => out({ ok: true, status: 200, echoed: Buffer.concat(chunks).toString() }));
      stream.end("hello over hbone");
    }
  } catch (e) {
    out({ ok: false, error: e.message, code: e.code, status: e.details?.status });
  }
}
`;

export interface ProbeCredentials {
  readonly keyPem: string;
  readonly chainPem: string;
  readonly rootPem: string;
}

/** Runs the HBONE probe in `pod` against host:15008 with `creds`. */
export async function hboneProbe(
  world: World,
  pod: string,
  target: { host: string; port?: number; authority: string; expectedIdentity: string },
  creds: ProbeCredentials | undefined,
  mode: HboneProbeMode = "connect",
): Promise<HboneProbeResult> {
  const dir = join(world.tmpDir, `creds-${Math.random().toString(36).slice(2)}`);
  await mkdir(dir, { recursive: true });
  if (creds !== undefined) {
    await writeFile(join(dir, "key.pem"), creds.keyPem, { mode: 0o600 });
    await writeFile(join(dir, "chain.pem"), creds.chainPem);
    await writeFile(join(dir, "root.pem"), creds.rootPem);
  }
  const r = await world.runInPod(
    pod,
    process.execPath,
    [
      "--input-type=module",
      "-e",
      SCRIPT,
      ZTUNNEL_INDEX,
      target.host,
      String(target.port ?? 15008),
      target.authority,
      dir,
      target.expectedIdentity,
      mode,
    ],
    { name: "hbone-probe", timeoutMs: 20_000 },
  );
  const last = r.stdout.trim().split("\n").pop() ?? "";
  if (!last.startsWith("{")) throw new Error(`hbone probe printed nothing: ${r.stderr.slice(-2000)}`);
  return JSON.parse(last) as HboneProbeResult;
}
