// `weft-cni`: the executable a container runtime calls (bin/weft-cni wraps it). Reads CNI_* and
// the network configuration on stdin, writes the result or the spec's error JSON on stdout.
import { AgentClient } from "../agent/client.js";
import { readCniEnvironment } from "../config.js";
import { runCni } from "./plugin.js";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const out = await runCni({ env: readCniEnvironment(), stdin: await readStdin() }, (socketPath, timeoutMs) => {
  const client = new AgentClient(socketPath, timeoutMs);
  return {
    enroll: (req) => client.enroll(req),
    unenroll: (req) => client.unenroll(req),
    pod: (uid) => client.pod(uid),
    health: () => client.health(),
  };
});
if (out.stderr !== undefined) process.stderr.write(`${out.stderr}\n`);
process.stdout.write(out.stdout);
process.exitCode = out.exitCode;
