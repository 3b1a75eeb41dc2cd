// A non-root run (issue 3): as root, re-run a sample of the unit suites and of the root suites as
// the unprivileged user `nobody` (setpriv drops uid, gid, groups and every capability). The unit
// suites pass; the root suites skip and print why; with CI=true the same root suites fail instead,
// because on CI nothing may silently skip.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { rootOnly } from "@weft/test";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../../..");
const NOBODY = "65534";

const UNIT = [
  "core/dist/test/errors.test.js",
  "state/dist/test/store.test.js",
  "native/dist/test/codecs.test.js",
  "native/dist/test/layout.test.js",
  "controller/dist/test/translate.test.js",
  "test/dist/test/netns-spec.test.js",
];
// Both gates: @weft/test's rootOnly() (netns suites) and native's capable() (BPF suites).
const ROOT_SUITES = [
  "test/dist/test/netns-world.root.test.js",
  "test/dist/test/redirect-capture.root.test.js",
  "native/dist/test/objects.root.test.js",
  "native/dist/test/capture.root.test.js",
];

interface Run {
  code: number;
  out: string;
  summary: Record<"tests" | "pass" | "fail" | "skipped", number>;
}

async function asNobody(files: readonly string[], ci: boolean): Promise<Run> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp" };
  if (ci) env.CI = "true";
  let code = 0;
  let out = "";
  // The checkout may sit below a directory nobody cannot enter (a 0700 mktemp dir, a home):
  // bind-mount it onto a world-traversable path in a private mount namespace of this run only.
  const stage = mkdtempSync(join(tmpdir(), "weft-nonroot-"));
  chmodSync(stage, 0o755);
  const node = process.execPath.startsWith(`${ROOT}/`)
    ? join(stage, relative(ROOT, process.execPath))
    : process.execPath;
  try {
    const r = await run(
      "unshare",
      [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind "$1" "$2" && cd "$2" && shift 2 && exec "$@"',
        "sh",
        ROOT,
        stage,
        "setpriv",
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        node,
        "--test",
        "--test-concurrency=1",
        "--test-reporter=spec",
        ...files,
      ],
      { env, maxBuffer: 64 * 2 ** 20, timeout: 240_000 },
    );
    out = r.stdout + r.stderr;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    code = typeof e.code === "number" ? e.code : -1;
    out = (e.stdout ?? "") + (e.stderr ?? "");
  } finally {
    rmdirSync(stage);
  }
  const count = (name: string): number => Number(new RegExp(`ℹ ${name} (\\d+)`).exec(out)?.[1] ?? NaN);
  return {
    code,
    out,
    summary: { tests: count("tests"), pass: count("pass"), fail: count("fail"), skipped: count("skipped") },
  };
}

void describe("a non-root run", { ...rootOnly(), timeout: 300_000 }, () => {
  void test("the files under test exist (the build ran)", () => {
    for (const f of [...UNIT, ...ROOT_SUITES]) assert.ok(existsSync(join(ROOT, f)), f);
  });

  void test("as nobody: unit suites pass, root suites skip and print why", async () => {
    const r = await asNobody([...UNIT, ...ROOT_SUITES], false);
    assert.equal(r.code, 0, r.out.slice(-4000));
    assert.equal(r.summary.fail, 0, r.out.slice(-4000));
    assert.ok(r.summary.pass >= 50, `unit tests ran: ${JSON.stringify(r.summary)}`);
    assert.ok(r.summary.skipped >= ROOT_SUITES.length, `root suites skipped: ${JSON.stringify(r.summary)}`);
    // Each gate prints its reason: the testbed's names the missing privileges and the fix, native's
    // names the capabilities.
    assert.match(
      r.out,
      /# skipping root-only suite: needs root: WEFT_E_CAPABILITY: .*missing root \(uid is 65534\)/,
    );
    assert.match(r.out, /run as root/);
    assert.match(r.out, /# skipped: needs root \(CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN\)/);
    // Nothing of the root suites ran: no netns world was built, no BPF object loaded.
    assert.doesNotMatch(r.out, /✔ .*lands on :15001/);
  });

  void test("as nobody with CI=true: the root suites fail, naming what is missing", async () => {
    const r = await asNobody(ROOT_SUITES, true);
    assert.notEqual(r.code, 0, "CI must fail when the root suites cannot run");
    assert.ok(r.summary.fail >= 1, JSON.stringify(r.summary));
    assert.equal(r.summary.pass, 0, `nothing may pass by skipping: ${JSON.stringify(r.summary)}`);
    assert.match(r.out, /WEFT_E_CAPABILITY/);
    assert.match(r.out, /cannot run on CI: needs root/);
  });
});
