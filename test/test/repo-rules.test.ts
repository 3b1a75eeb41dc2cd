// Repository-level rules that hold the architecture together: the pinned runtime and the import
// rules of DESIGN §9, which `tsc -b` must enforce through each package's `references`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../../..");

// DESIGN §9, "may import". A change here is an architecture change: write an ADR first.
const ALLOWED: Record<string, string[]> = {
  core: [],
  api: [],
  state: ["core", "api"],
  native: ["core"],
  ztunnel: ["core", "api", "state", "native"],
  waypoint: ["core", "api", "state"],
  controller: ["core", "api"],
  cli: ["core", "api"],
  test: ["core", "api", "state", "native", "ztunnel", "waypoint", "controller", "cli"],
  // DESIGN §9: bench may use every package's public exports, the test world's (netns, mesh) included.
  bench: ["core", "api", "state", "native", "ztunnel", "waypoint", "controller", "cli", "test"],
};

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, "utf8")) as unknown;
}

void test("npm scripts run on the pinned Node 24", async () => {
  assert.ok(
    Number(process.versions.node.split(".")[0]) >= 24,
    `the test runner itself runs on Node ${process.versions.node}`,
  );
  const { stdout } = await run("npm", ["run", "-s", "node-version"], { cwd: ROOT });
  const major = Number(stdout.trim().split(".")[0]);
  assert.ok(major >= 24, `npm run uses Node ${stdout.trim()}, expected >= 24`);
  const pkg = (await readJson(join(ROOT, "package.json"))) as {
    engines: { node: string };
    devDependencies: Record<string, string>;
  };
  assert.equal(pkg.engines.node, ">=24");
  assert.match(pkg.devDependencies.node ?? "", /^\^?24\./);
});

void test("each package references exactly the packages DESIGN §9 lets it import", async () => {
  for (const [pkg, allowed] of Object.entries(ALLOWED)) {
    const tsconfig = (await readJson(join(ROOT, pkg, "tsconfig.json"))) as {
      references?: { path: string }[];
    };
    const refs = (tsconfig.references ?? []).map((r) => r.path.replace(/^\.\.\//, "")).sort();
    assert.deepEqual(refs, [...allowed].sort(), `${pkg}/tsconfig.json references`);
    const manifest = (await readJson(join(ROOT, pkg, "package.json"))) as {
      name: string;
      exports: Record<string, unknown>;
    };
    assert.equal(manifest.name, `@weft/${pkg}`);
    assert.deepEqual(Object.keys(manifest.exports), ["."], `${pkg} exposes only its public entry point`);
  }
});

// Copies the TypeScript sources into a temp tree (so the real tree and its build are never touched),
// adds one import, and runs `tsc -b` on the importing package.
async function compileWithImport(
  importer: string,
  imported: string,
): Promise<{ code: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), "weft-imports-"));
  try {
    for (const f of ["tsconfig.base.json", "tsconfig.json", "package.json"]) {
      await cp(join(ROOT, f), join(dir, f));
    }
    for (const pkg of Object.keys(ALLOWED)) {
      for (const f of ["src", "package.json", "tsconfig.json"]) {
        await cp(join(ROOT, pkg, f), join(dir, pkg, f), { recursive: true });
      }
    }
    await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
    await writeFile(
      join(dir, importer, "src", "probe.ts"),
      `import * as probe from "@weft/${imported}";\nexport const probed = probe;\n`,
    );
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    try {
      const { stdout, stderr } = await run(process.execPath, [tsc, "-b", join(dir, importer)], { cwd: dir });
      return { code: 0, output: stdout + stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, output: e.stdout + e.stderr };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void test("tsc -b fails on an import the package may not make", async (t) => {
  const cases: [importer: string, imported: string][] = [
    ["state", "ztunnel"],
    ["core", "api"],
    ["controller", "state"],
  ];
  for (const [importer, imported] of cases) {
    await t.test(`${importer} -> ${imported} is refused`, async () => {
      const { code, output } = await compileWithImport(importer, imported);
      assert.notEqual(code, 0, `tsc accepted a forbidden import:\n${output}`);
      assert.match(output, /TS6307|TS6059/, output);
      assert.match(output, new RegExp(`${imported}/src/index\\.ts`), output);
    });
  }
  await t.test("an allowed import compiles (control case)", async () => {
    const { code, output } = await compileWithImport("state", "core");
    assert.equal(code, 0, output);
  });
});
