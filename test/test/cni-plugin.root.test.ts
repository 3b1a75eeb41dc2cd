// weft-cni executed exactly as a container runtime does (root): a .conflist chaining Debian's
// bridge plugin (host-local IPAM) and weft-cni, CNI_* in the environment and each plugin's config
// (with prevResult) on stdin, against network namespaces made here. ADD returns prevResult only
// once the agent captured the pod (found its kubelet-style pod<uid> cgroup by itself); CHECK,
// DEL (twice, and with the agent down), VERSION; spec errors for malformed stdin (6), unknown
// versions (1), no prevResult (7), no agent (11: the pod does not start uncaptured).
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { findCgroup2Mount } from "@weft/core";
import { rootOnly } from "@weft/test";
import { AgentClient, startAgent, type Agent, type OutboundContext } from "@weft/ztunnel";
import { PROBE_CLIENT, filesBelow, scratch, type ProbeResult } from "./redirect-support.js";

const REPO = resolve(import.meta.dirname, "../../..");
const WEFT_CNI = join(REPO, "ztunnel", "bin", "weft-cni");
const CNI_BIN = "/usr/lib/cni";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

void describe(
  "weft-cni chained after bridge, run like a runtime runs it",
  { ...rootOnly(), timeout: 60_000 },
  () => {
    const id = randomBytes(3).toString("hex");
    const dirs = scratch();
    const socketPath = join(dirs.stateDir, "cni.sock");
    const nodeNs = `weft-cni-node-${id}`;
    const ipamDir = mkdtempSync(join(tmpdir(), "weft-cni-ipam-"));
    const cgroupTop = join(findCgroup2Mount(), `weft-cni-${id}`);
    const pods = [0, 1].map((i) => ({
      netns: `weft-cni-pod${i}-${id}`,
      uid: `${id}-0000-4000-8000-00000000000${i}`,
      containerId: `sandbox${i}${id}`,
      cgroup: "",
    }));
    const landed: OutboundContext[] = [];
    const pauses: ChildProcess[] = [];
    let agent: Agent | undefined;

    const conflist = {
      cniVersion: "1.0.0",
      name: `weft-test-${id}`,
      plugins: [
        {
          type: "bridge",
          bridge: `wcni${id}`,
          isGateway: true,
          ipMasq: false,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.251.7.0/24" }]], dataDir: ipamDir },
        },
        { type: "weft-cni", agentSocket: socketPath, timeoutMs: 5000 },
      ],
    };

    /**
     * Exec one plugin the way libcni does: env + the plugin's config with name/cniVersion/prevResult
     * on stdin. Asynchronous: the agent answering it runs in this process.
     */
    function exec(binary: string, command: string, pod: (typeof pods)[number], stdin: string): Promise<Run> {
      return new Promise((resolveRun, reject) => {
        const child = spawn("ip", ["netns", "exec", nodeNs, binary], {
          stdio: ["pipe", "pipe", "pipe"],
          env: {
            PATH: process.env["PATH"],
            CNI_COMMAND: command,
            CNI_CONTAINERID: pod.containerId,
            CNI_NETNS: `/run/netns/${pod.netns}`,
            CNI_IFNAME: "eth0",
            CNI_PATH: CNI_BIN,
            CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-${pod.uid.slice(-1)};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId};K8S_POD_UID=${pod.uid}`,
          },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => {
          try {
            resolveRun({ code: code ?? -1, stdout, stderr, json: parse(stdout) });
          } catch (e) {
            reject(new Error(`${binary} ${command} printed non-JSON: ${stdout} ${stderr} (${String(e)})`));
          }
        });
        child.stdin.end(stdin);
      });
    }

    function parse(text: string): Record<string, unknown> | undefined {
      return text.trim() === "" ? undefined : (JSON.parse(text) as Record<string, unknown>);
    }

    function pluginConfig(index: number, prevResult?: unknown): string {
      const plugin = conflist.plugins[index]!;
      return JSON.stringify({
        cniVersion: conflist.cniVersion,
        name: conflist.name,
        ...plugin,
        ...(prevResult !== undefined ? { prevResult } : {}),
      });
    }

    /** ADD through the chain; returns the final result (what the runtime would get). */
    async function addChain(pod: (typeof pods)[number]): Promise<{ bridge: Run; weft: Run }> {
      // Runtimes bring lo up first (containerd runs the loopback plugin before the pod network).
      const lo = await exec(
        join(CNI_BIN, "loopback"),
        "ADD",
        pod,
        JSON.stringify({ cniVersion: "1.0.0", name: "cni-loopback", type: "loopback" }),
      );
      assert.equal(lo.code, 0, `loopback ADD: ${lo.stdout} ${lo.stderr}`);
      const bridge = await exec(join(CNI_BIN, "bridge"), "ADD", pod, pluginConfig(0));
      assert.equal(bridge.code, 0, `bridge ADD: ${bridge.stdout} ${bridge.stderr}`);
      const weft = await exec(WEFT_CNI, "ADD", pod, pluginConfig(1, bridge.json));
      return { bridge, weft };
    }

    /** A process in the pod's cgroup and netns: connects out and reports what it saw. */
    function probeFromPod(pod: (typeof pods)[number], host: string, port: number): Promise<ProbeResult> {
      return new Promise((resolveProbe, reject) => {
        const child = spawn(
          "sh",
          [
            "-c",
            'echo $$ > "$1/cgroup.procs" && shift && exec ip netns exec "$@"',
            "sh",
            pod.cgroup,
            pod.netns,
            process.execPath,
            "-e",
            PROBE_CLIENT,
            host,
            String(port),
            "2000",
          ],
          { stdio: ["ignore", "pipe", "inherit"] },
        );
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("error", reject);
        child.on("close", () =>
          resolveProbe(JSON.parse(out.trim().split("\n").pop() ?? "{}") as ProbeResult),
        );
      });
    }

    async function runAgent(): Promise<Agent> {
      return startAgent({
        config: {
          pinRoot: dirs.pinRoot,
          stateDir: join(dirs.stateDir, "pods"),
          cniSocket: socketPath,
          bpfDir: undefined,
          dnsCapture: false,
          denyBind: true,
          // kubelet's layout below a private root, so discovery cannot wander into real pods.
          cgroupRoot: cgroupTop,
        },
        handlers: {
          outbound: (s, ctx) => {
            landed.push(ctx);
            s.on("error", () => {});
            s.end(`${JSON.stringify({ via: "outbound" })}\n`);
          },
          inbound: (s) => s.resetAndDestroy(),
          hbone: (s) => s.resetAndDestroy(),
        },
      });
    }

    before(async () => {
      execFileSync("ip", ["netns", "add", nodeNs]);
      for (const pod of pods) {
        execFileSync("ip", ["netns", "add", pod.netns]);
        // kubelet creates the pod cgroup before the sandbox: .../kubepods/besteffort/pod<uid>.
        pod.cgroup = join(cgroupTop, "kubepods", "besteffort", `pod${pod.uid}`);
        mkdirSync(pod.cgroup, { recursive: true });
        // The pause process holds the pod's netns and cgroup, as a sandbox does.
        const pause = spawn(
          "sh",
          [
            "-c",
            'echo $$ > "$1/cgroup.procs" && exec ip netns exec "$2" sleep 600',
            "sh",
            pod.cgroup,
            pod.netns,
          ],
          { stdio: "ignore" },
        );
        pauses.push(pause);
      }
      agent = await runAgent();
    });

    after(async () => {
      try {
        await agent?.close();
        for (const pod of pods) {
          await exec(join(CNI_BIN, "bridge"), "DEL", pod, pluginConfig(0)); // releases host-local leases
        }
        for (const p of pauses) p.kill("SIGKILL");
        await Promise.all(
          pauses.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)))),
        );
        for (const ns of [...pods.map((p) => p.netns), nodeNs]) {
          if (existsSync(`/run/netns/${ns}`)) execFileSync("ip", ["netns", "del", ns]);
        }
        if (existsSync(cgroupTop)) {
          // Leaves first: cgroup directories go bottom-up.
          execFileSync("sh", ["-c", `find "${cgroupTop}" -depth -type d -exec rmdir {} \\;`]);
        }
      } finally {
        rmSync(ipamDir, { recursive: true, force: true });
        dirs.remove();
      }
    });

    void test("VERSION lists 0.4.0, 1.0.0 and 1.1.0", async () => {
      const r = await exec(WEFT_CNI, "VERSION", pods[0]!, JSON.stringify({ cniVersion: "1.0.0" }));
      assert.equal(r.code, 0);
      assert.deepEqual(r.json, { cniVersion: "1.0.0", supportedVersions: ["0.4.0", "1.0.0", "1.1.0"] });
    });

    void test("ADD returns prevResult unchanged once the pod is captured; outbound lands on :15001", async () => {
      const pod = pods[0]!;
      const { bridge, weft } = await addChain(pod);
      assert.equal(weft.code, 0, `weft-cni ADD: ${weft.stdout} ${weft.stderr}`);
      assert.deepEqual(weft.json, bridge.json, "the result passes through unchanged");
      const ips = ((bridge.json?.["ips"] ?? []) as { address: string }[]).map((i) => i.address.split("/")[0]);
      const enrolled = await new AgentClient(socketPath).pod(pod.uid);
      assert.ok(enrolled, "the agent has the pod");
      assert.equal(enrolled["cgroupPath"], pod.cgroup, "found kubelet's pod<uid> cgroup by itself");
      assert.deepEqual(enrolled["ips"], ips);
      assert.equal(enrolled["namespace"], "shop");
      assert.equal(enrolled["containerId"], pod.containerId);
      const got = await probeFromPod(pod, "10.251.7.1", 80);
      assert.equal(got.line, JSON.stringify({ via: "outbound" }), JSON.stringify(got));
      assert.deepEqual(landed.at(-1)?.original, {
        address: "10.251.7.1",
        port: 80,
        family: 4,
        protocol: "tcp",
      });
    });

    void test("CHECK passes for a captured pod and fails (101) for one the agent does not have", async () => {
      const ok = await exec(WEFT_CNI, "CHECK", pods[0]!, pluginConfig(1, { cniVersion: "1.0.0", ips: [] }));
      assert.equal(ok.code, 0, ok.stdout);
      assert.equal(ok.stdout, "");
      const missing = await exec(
        WEFT_CNI,
        "CHECK",
        pods[1]!,
        pluginConfig(1, { cniVersion: "1.0.0", ips: [] }),
      );
      assert.equal(missing.code, 1);
      assert.equal(missing.json?.["code"], 101);
      assert.match(String(missing.json?.["msg"]), /is not captured/);
    });

    void test("spec errors: malformed stdin (6), unknown version (1), no prevResult (7), no CNI_COMMAND (4)", async () => {
      const pod = pods[1]!;
      const bad = await exec(WEFT_CNI, "ADD", pod, "{not json");
      assert.equal(bad.code, 1);
      assert.equal(bad.json?.["code"], 6);
      assert.equal(bad.json?.["cniVersion"], "1.1.0");
      assert.match(String(bad.json?.["msg"]), /cannot decode the network configuration/);
      const old = await exec(
        WEFT_CNI,
        "ADD",
        pod,
        JSON.stringify({ cniVersion: "0.3.1", name: "n", type: "weft-cni" }),
      );
      assert.equal(old.json?.["code"], 1);
      const alone = await exec(WEFT_CNI, "ADD", pod, pluginConfig(1));
      assert.equal(alone.json?.["code"], 7);
      assert.match(String(alone.json?.["msg"]), /must be chained after/);
      const noCommand = await exec(WEFT_CNI, "", pod, pluginConfig(1));
      assert.equal(noCommand.json?.["code"], 4);
    });

    void test("ADD with the agent down fails with 'try again later' (11): no pod starts uncaptured", async () => {
      await agent?.close();
      agent = undefined;
      const pod = pods[1]!;
      const { weft } = await addChain(pod);
      assert.equal(weft.code, 1);
      assert.equal(weft.json?.["code"], 11);
      assert.match(String(weft.json?.["msg"]), /not reachable/);
      // STATUS says the same.
      const status = await exec(WEFT_CNI, "STATUS", pod, pluginConfig(1));
      assert.equal(status.json?.["code"], 50);
      // DEL with the agent down still succeeds (the next agent collects what is left).
      assert.equal((await exec(WEFT_CNI, "DEL", pods[0]!, pluginConfig(1))).code, 0);
      agent = await runAgent();
      assert.deepEqual(agent.adoption.adopted, [pods[0]!.uid], "the captured pod was re-adopted");
      assert.equal((await exec(WEFT_CNI, "STATUS", pod, pluginConfig(1))).code, 0);
    });

    void test("DEL releases the pod and is idempotent; no pins or records stay", async () => {
      const pod = pods[0]!;
      assert.equal((await exec(WEFT_CNI, "DEL", pod, pluginConfig(1))).code, 0);
      assert.equal((await exec(WEFT_CNI, "DEL", pod, pluginConfig(1))).code, 0, "second DEL");
      assert.equal(await new AgentClient(socketPath).pod(pod.uid), undefined);
      assert.deepEqual(filesBelow(join(dirs.pinRoot, "pods")), []);
      assert.deepEqual(filesBelow(join(dirs.stateDir, "pods")), []);
      const direct = await probeFromPod(pod, "10.251.7.1", 80);
      assert.equal(direct.error, "ECONNREFUSED", "uncaptured: the gateway itself refuses port 80");
    });
  },
);
