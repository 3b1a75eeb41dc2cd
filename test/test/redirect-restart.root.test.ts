// The node agent as a separate process on a testbed node (root): pods enrolled through its unix
// socket stay captured across a SIGKILL — traffic fails closed during the gap, the real server
// never sees a plaintext connection — and the next agent re-adopts them with new listeners and
// garbage-collects the pod whose netns vanished meanwhile. SIGTERM leaves the pins too. Also the
// enrol API's error statuses.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { findCgroup2Mount } from "@weft/core";
import { createWorld, rootOnly, startServer, sweepStale, type PodProcess, type World } from "@weft/test";
import { AgentClient, AgentError } from "@weft/ztunnel";
import { events, filesBelow, lineOf, probe, scratch, type ProbeResult } from "./redirect-support.js";

const ECHO = 7000;
const APP = 8080;
const AGENT = join(import.meta.dirname, "fixtures", "redirect-agent.js");

void describe(
  "node agent restart: pins keep pods captured, the next agent re-adopts",
  { ...rootOnly(), timeout: 60_000 },
  () => {
    let world: World | undefined;
    const dirs = scratch();
    const socketPath = join(dirs.stateDir, "cni.sock");
    const client = new AgentClient(socketPath, 5000);
    const servers: Record<string, PodProcess> = {};
    let agent: PodProcess | undefined;
    const gcNetns = `weft-gc-${dirs.pinRoot.slice(-8)}`;
    let gcCgroup = "";
    const w = (): World => world ?? assert.fail("world was not built");

    async function startAgentProcess(): Promise<PodProcess> {
      // `ip netns exec` (how the testbed enters the node netns) remounts /sys, hiding the host's
      // bpffs and cgroup2; re-entering the test's (host) mount namespace gives the agent what a DaemonSet
      // gets from hostPath mounts of /sys/fs/bpf and /sys/fs/cgroup. nsenter execs: same PID.
      const proc = await w().spawnOnNode(
        "node-a",
        "nsenter",
        [`--mount=/proc/${process.pid}/ns/mnt`, "--", process.execPath, AGENT],
        {
          name: "agent",
          env: {
            ...process.env,
            WEFT_PIN_ROOT: dirs.pinRoot,
            WEFT_STATE_DIR: join(dirs.stateDir, "pods"),
            WEFT_CNI_SOCKET: socketPath,
          },
        },
      );
      await proc.waitForLine('"msg":"agent ready"', 15_000);
      return proc;
    }

    const a1 = (): { uid: string; name: string; namespace: string; netnsPath: string; ips: string[] } => ({
      uid: `uid-a1-${w().runId}`,
      name: "pod-a1",
      namespace: "default",
      netnsPath: `/run/netns/${w().pod("pod-a1").netns}`,
      ips: [w().pod("pod-a1").ipv4, w().pod("pod-a1").ipv6],
    });

    function via(r: ProbeResult): string | undefined {
      return lineOf(r).via;
    }

    /** How many original-source rules (ADR 0006) pod-a1's netns holds, per family. */
    const originalSourceRules = (): number[] =>
      ["-4", "-6"].map(
        (family) =>
          execFileSync("ip", [family, "-n", w().pod("pod-a1").netns, "rule", "show"], { encoding: "utf8" })
            .split("\n")
            .filter((l) => l.includes("fwmark 0x53a")).length,
      );

    before(async () => {
      await sweepStale();
      world = await createWorld();
      servers.b1 = await startServer(world, "pod-b1", "tcp-echo", ECHO);
      servers.a1 = await startServer(world, "pod-a1", "tcp-echo", APP);
      execFileSync("ip", ["netns", "add", gcNetns]);
      gcCgroup = join(findCgroup2Mount(), gcNetns);
      mkdirSync(gcCgroup);
      agent = await startAgentProcess();
    });

    after(async () => {
      try {
        await agent?.stop();
        await world?.destroy();
        if (existsSync(`/run/netns/${gcNetns}`)) execFileSync("ip", ["netns", "del", gcNetns]);
        if (gcCgroup !== "" && existsSync(gcCgroup)) rmdirSync(gcCgroup);
      } finally {
        dirs.remove();
      }
    });

    void test("enrol through the unix socket; the agent finds the pod's cgroup from a process in its netns", async () => {
      const { pod } = await client.enroll(a1()); // no cgroupPath: discovered
      assert.equal(pod["cgroupPath"], w().pod("pod-a1").cgroup);
      await client.enroll({
        uid: "uid-gc",
        name: "gc",
        namespace: "default",
        netnsPath: `/run/netns/${gcNetns}`,
        cgroupPath: gcCgroup,
        ips: ["10.254.254.2"],
      });
      const { pods } = await client.pods();
      assert.deepEqual(pods.map((p) => p["uid"]).sort(), [a1().uid, "uid-gc"].sort());
      const got = await probe(w(), "pod-a1", w().pod("pod-b1").ipv4, ECHO);
      assert.equal(via(got), "outbound");
    });

    void test("the enrol API answers bad requests with clear errors and status codes", async () => {
      const cases: [string, string, unknown, number, string][] = [
        ["POST", "/enroll", { ...a1(), uid: "" }, 400, "WEFT_E_INVALID_INPUT"],
        [
          "POST",
          "/enroll",
          { ...a1(), uid: "x", ips: ["10.254.1.1"], netnsPath: "/run/netns/weft-none" },
          404,
          "WEFT_E_NOT_FOUND",
        ],
        [
          "POST",
          "/enroll",
          { ...a1(), netnsPath: `/run/netns/${gcNetns}`, cgroupPath: gcCgroup },
          409,
          "WEFT_E_CONFLICT",
        ],
        ["POST", "/unenroll", {}, 400, "WEFT_E_INVALID_INPUT"],
        ["GET", "/enroll", undefined, 405, "WEFT_E_INVALID_INPUT"],
        ["GET", "/pods/uid-none", undefined, 404, "WEFT_E_NOT_FOUND"],
        ["GET", "/nope", undefined, 404, "WEFT_E_NOT_FOUND"],
      ];
      for (const [method, path, body, status, code] of cases) {
        const r = await client.request(method, path, body);
        assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
        assert.equal((r.body as { error: { code: string } }).error.code, code);
      }
      const bad = await client.request("POST", "/enroll", undefined);
      assert.equal(bad.status, 400, "an empty body is not JSON");
      await assert.rejects(
        client.enroll({ ...a1(), uid: "x", netnsPath: "/run/netns/weft-none" }),
        AgentError,
      );
    });

    void test("SIGKILL: pods stay captured and fail closed; nothing reaches the destination in plaintext", async () => {
      assert.ok(agent);
      agent.child.kill("SIGKILL");
      await agent.exited;
      agent = undefined;
      assert.ok(filesBelow(join(dirs.pinRoot, "pods")).length > 0, "pins survive the process");
      const b1Before = events((await servers.b1!.logs()).stdout, "connection").length;
      const out = await probe(w(), "pod-a1", w().pod("pod-b1").ipv4, ECHO, 1500);
      assert.ok(
        out.error === "ECONNREFUSED" || out.error === "timeout",
        `outbound failed: ${JSON.stringify(out)}`,
      );
      const out6 = await probe(w(), "pod-a1", w().pod("pod-b1").ipv6, ECHO, 1500);
      assert.ok(
        out6.error === "ECONNREFUSED" || out6.error === "timeout",
        `outbound v6 failed: ${JSON.stringify(out6)}`,
      );
      assert.equal(
        events((await servers.b1!.logs()).stdout, "connection").length,
        b1Before,
        "b1 saw no plaintext",
      );
      const a1Before = events((await servers.a1!.logs()).stdout, "connection").length;
      const inb = await probe(w(), "pod-b1", w().pod("pod-a1").ipv4, APP, 1500);
      assert.ok(
        inb.error === "ECONNREFUSED" || inb.error === "timeout",
        `inbound failed: ${JSON.stringify(inb)}`,
      );
      assert.equal(
        events((await servers.a1!.logs()).stdout, "connection").length,
        a1Before,
        "the app saw nothing",
      );
    });

    void test("a new agent re-adopts live pods and garbage-collects the one whose netns is gone", async () => {
      execFileSync("ip", ["netns", "del", gcNetns]); // the pod went away while no agent ran
      agent = await startAgentProcess();
      const { pods } = await client.pods();
      assert.deepEqual(
        pods.map((p) => p["uid"]),
        [a1().uid],
      );
      assert.equal(existsSync(join(dirs.pinRoot, "pods", "uid-gc")), false, "its pins are gone");
      assert.equal(existsSync(join(dirs.stateDir, "pods", "uid-gc.json")), false, "its record is gone");
      const got = await probe(w(), "pod-a1", w().pod("pod-b1").ipv4, ECHO);
      assert.equal(via(got), "outbound");
      assert.equal(
        (JSON.parse(got.line ?? "{}") as { pid: number }).pid,
        agent.pid,
        "served by the new agent",
      );
      assert.equal(via(await probe(w(), "pod-b1", w().pod("pod-a1").ipv4, APP)), "inbound");
      assert.equal(via(await probe(w(), "pod-b1", w().pod("pod-a1").ipv6, 15008)), "hbone");
      // Re-adoption sets the pod's original-source routing up again without duplicating it.
      assert.deepEqual(originalSourceRules(), [1, 1]);
    });

    void test("SIGTERM exits 0 and leaves the pins; unenrol through the API then releases the pod", async () => {
      assert.ok(agent);
      const status = await agent.stop(5000);
      assert.deepEqual(status, { code: 0, signal: null });
      assert.ok(existsSync(join(dirs.pinRoot, "pods", a1().uid, "weft_sk_lookup")));
      agent = await startAgentProcess();
      assert.deepEqual((await client.unenroll({ uid: a1().uid })).removed, true);
      assert.deepEqual((await client.unenroll({ uid: a1().uid })).removed, false);
      assert.deepEqual(originalSourceRules(), [0, 0], "unenrol takes the routing down");
      const direct = await probe(w(), "pod-a1", w().pod("pod-b1").ipv4, ECHO);
      assert.equal(lineOf(direct).peer?.address, w().pod("pod-a1").ipv4, "plain TCP once released");
      assert.deepEqual(filesBelow(join(dirs.pinRoot, "pods")), []);
      assert.deepEqual(filesBelow(join(dirs.stateDir, "pods")), []);
    });
  },
);
