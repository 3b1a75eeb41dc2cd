// The testbed leaves nothing behind (root): destroy() restores the host exactly, a world whose
// owner was SIGKILLed is removed by sweepStale() (and a live owner's world is not), and name
// collisions are refused without touching the other party's objects.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { createInterface } from "node:readline";
import {
  cgroup2Mount,
  createWorld,
  DEFAULT_RECORD_DIR,
  isStale,
  parseStatPpid,
  readRecords,
  rootOnly,
  startServer,
  sweepStale,
  tcpEcho,
  WeftError,
} from "@weft/test";
import { execOk } from "../src/netns/exec.js";

interface HostSnapshot {
  netns: string[];
  links: string[];
  cgroups: string[];
  children: number[];
}

/** Prefixes of testbed runs owned by other live processes: not ours to compare. */
async function othersPrefixes(): Promise<string[]> {
  const out: string[] = [];
  for (const r of await readRecords(DEFAULT_RECORD_DIR)) {
    if (r.pid !== process.pid && !(await isStale(r))) out.push(r.prefix);
  }
  return out;
}

async function cgroupDirs(root: string, depth: number): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const p = join(root, e.name);
    out.push(p);
    if (depth > 1) out.push(...(await cgroupDirs(p, depth - 1)));
  }
  return out;
}

async function childPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    if (stat !== "" && parseStatPpid(stat) === process.pid) pids.push(Number(name));
  }
  return pids.sort((a, b) => a - b);
}

async function snapshot(): Promise<HostSnapshot> {
  const others = await othersPrefixes();
  const mine = (name: string): boolean => !others.some((p) => name.includes(p));
  const netns = (await execOk("ip", ["netns", "list"]))
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n !== "" && mine(n))
    .sort();
  const links = (await execOk("ip", ["-o", "link", "show"]))
    .split("\n")
    .map((l) => l.split(": ")[1]?.split("@")[0] ?? "")
    .filter((n) => n !== "")
    .sort();
  const cgroups = (await cgroupDirs(cgroup2Mount(), 2)).filter(mine).sort();
  return { netns, links, cgroups, children: await childPids() };
}

void describe("leave nothing behind", { ...rootOnly(), timeout: 45_000 }, () => {
  void test("destroy() restores netns, root-ns links, cgroups and child processes exactly", async () => {
    await sweepStale();
    const before = await snapshot();
    const world = await createWorld(undefined, { stopGraceMs: 300 });
    await startServer(world, "pod-b1", "tcp-echo", 7000);
    assert.equal((await tcpEcho(world, "pod-a1", { host: world.pod("pod-b1").ipv4, port: 7000 })).ok, true);
    // One process ignores SIGTERM and leaves a grandchild: destroy must still get rid of both.
    const stubborn = await world.spawnInPod("pod-a2", "sh", [
      "-c",
      "trap '' TERM; sleep 60 & echo started; wait",
    ]);
    await stubborn.waitForLine("started");
    const during = await snapshot();
    assert.ok(
      during.netns.some((n) => n.startsWith(world.prefix)),
      "the world's netns exist while it lives",
    );
    assert.ok(during.cgroups.includes(world.plan.cgroupRoot));
    assert.ok(during.children.includes(stubborn.pid));
    await world.destroy();
    await world.destroy(); // idempotent
    assert.deepEqual(await snapshot(), before);
    assert.equal(existsSync(world.tmpDir), false, "temp dir removed");
    assert.equal(existsSync(join(DEFAULT_RECORD_DIR, `${world.runId}.json`)), false, "record removed");
    assert.equal(stubborn.status?.signal, "SIGKILL");
  });

  void test("a world whose owner was SIGKILLed is swept; while the owner lives it is not", async () => {
    const fixture = join(import.meta.dirname, "fixtures", "world-owner.js");
    const owner = spawn(process.execPath, [fixture], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const [line] = (await once(createInterface({ input: owner.stdout }), "line")) as [string];
      const made = JSON.parse(line) as {
        runId: string;
        appPid: number;
        tmpDir: string;
        cgroupRoot: string;
        netns: string[];
      };
      assert.equal(
        (await sweepStale()).includes(made.runId),
        false,
        "a live owner's world must not be swept",
      );
      for (const n of made.netns) assert.ok(existsSync(`/run/netns/${n}`), `${n} exists`);

      owner.kill("SIGKILL");
      await once(owner, "exit");
      // Killed owner: everything it made is still there, including the app it started.
      assert.ok(existsSync(made.cgroupRoot));
      assert.ok(existsSync(`/proc/${made.appPid}`));

      assert.ok((await sweepStale()).includes(made.runId), "the dead owner's world is swept");
      for (const n of made.netns) assert.equal(existsSync(`/run/netns/${n}`), false, `${n} removed`);
      assert.equal(existsSync(made.cgroupRoot), false, "cgroups removed");
      assert.equal(existsSync(made.tmpDir), false, "temp dir removed");
      assert.equal(existsSync(join(DEFAULT_RECORD_DIR, `${made.runId}.json`)), false, "record removed");
      const appStat = await readFile(`/proc/${made.appPid}/stat`, "utf8").catch(() => "gone");
      assert.ok(appStat === "gone" || / Z /.test(appStat), "the app in the pod was killed");
    } finally {
      if (owner.exitCode === null && owner.signalCode === null) owner.kill("SIGKILL");
      await sweepStale();
    }
  });
});

interface Made {
  runId: string;
  appPid: number;
  tmpDir: string;
  cgroupRoot: string;
  netns: string[];
}

async function startOwner(mode: "hold" | "exit" = "hold"): Promise<{ owner: ChildProcess; made: Made }> {
  const fixture = join(import.meta.dirname, "fixtures", "world-owner.js");
  const owner = spawn(process.execPath, [fixture, mode], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(createInterface({ input: owner.stdout }), "line")) as [string];
  return { owner, made: JSON.parse(line) as Made };
}

async function assertAllGone(made: Made, timeoutMs: number): Promise<void> {
  const gone = (): boolean =>
    made.netns.every((n) => !existsSync(`/run/netns/${n}`)) &&
    !existsSync(made.cgroupRoot) &&
    !existsSync(made.tmpDir) &&
    !existsSync(join(DEFAULT_RECORD_DIR, `${made.runId}.json`));
  const deadline = Date.now() + timeoutMs;
  while (!gone() && Date.now() < deadline) await sleep(50);
  assert.ok(gone(), `run ${made.runId} left objects behind`);
}

void describe("cleanup when the owner ends without destroy()", { ...rootOnly(), timeout: 30_000 }, () => {
  void test("SIGTERM to the owner destroys its world, then the process dies of SIGTERM", async () => {
    const { owner, made } = await startOwner();
    try {
      owner.kill("SIGTERM");
      const [code, signal] = (await once(owner, "exit")) as [number | null, NodeJS.Signals | null];
      assert.deepEqual([code, signal], [null, "SIGTERM"]);
      await assertAllGone(made, 0);
    } finally {
      await sweepStale();
    }
  });

  void test("process.exit() without destroy(): the detached reaper removes the world", async () => {
    const { owner, made } = await startOwner("exit");
    try {
      await once(owner, "exit");
      await assertAllGone(made, 10_000);
    } finally {
      await sweepStale();
    }
  });
});

void describe("name collisions", { ...rootOnly(), timeout: 30_000 }, () => {
  const spec = { nodes: ["a"], pods: [{ name: "p", node: "a" }], runId: "c0111d" };

  void test("an existing netns with a planned name is refused and left alone", async () => {
    const foreign = "weft-c0111d-p-p";
    await execOk("ip", ["netns", "add", foreign]);
    try {
      await assert.rejects(createWorld(spec), (e: unknown) => {
        assert.ok(e instanceof WeftError);
        assert.equal(e.code, "WEFT_E_NAME_COLLISION");
        assert.match(e.message, /weft-c0111d-p-p/);
        return true;
      });
      assert.ok(existsSync(`/run/netns/${foreign}`), "someone else's netns must survive");
      assert.equal(existsSync("/run/netns/weft-c0111d-n-a"), false, "nothing of ours was created");
      assert.equal(existsSync(join(DEFAULT_RECORD_DIR, "c0111d.json")), false, "no record left");
    } finally {
      await execOk("ip", ["netns", "del", foreign]);
    }
  });

  void test("a run id in use by a live world is refused; that world keeps working", async () => {
    const first = await createWorld(spec);
    try {
      await assert.rejects(createWorld(spec), /WEFT_E_NAME_COLLISION: run id c0111d is already recorded/);
      assert.ok(existsSync(`/run/netns/${first.pod("p").netns}`));
      assert.ok(existsSync(join(DEFAULT_RECORD_DIR, "c0111d.json")));
    } finally {
      await first.destroy();
    }
  });

  void test("a bad spec is refused before anything is created", async () => {
    const before = (await readRecords(DEFAULT_RECORD_DIR)).length;
    await assert.rejects(
      createWorld({ nodes: ["a"], pods: [{ name: "p", node: "b" }] }),
      /WEFT_E_TOPOLOGY: bad testbed topology: pods\[0\]\.node "b" is not a node/,
    );
    assert.equal((await readRecords(DEFAULT_RECORD_DIR)).length, before);
  });
});
