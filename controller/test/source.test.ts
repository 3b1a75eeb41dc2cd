import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FileSource,
  formatProblem,
  loadConfigDir,
  ParseCache,
  type ConfigProblem,
  type ConfigSnapshot,
} from "../src/source/index.js";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "weft-source-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const NS = `apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    weft.dev/dataplane-mode: ambient
`;

const POLICY_BAD_PRINCIPAL = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: allow-web
  namespace: demo
spec:
  action: ALLOW
  rules:
    - from:
        - source:
            namespaces: [demo]
        - source:
            principals:
              - cluster.local/ns/demo/sa/a
              - cluster.local/ns/demo/sa/b
              - ""
`;

void test("loads multi-document YAML and JSON recursively, sorted, with origins", async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, "sub"));
    await writeFile(
      join(dir, "b.yaml"),
      `${NS}---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n---\n`,
    );
    await writeFile(
      join(dir, "sub", "a.json"),
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "web-1", namespace: "demo" },
        spec: {},
      }),
    );
    await writeFile(join(dir, "ignored.txt"), "not: config");
    const r = await loadConfigDir(dir);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.files, ["b.yaml", "sub/a.json"]);
    assert.deepEqual(
      r.objects.map((o) => `${o.kind}/${o.metadata.name}`),
      ["Namespace/demo", "Pod/web-1", "Service/web"],
    );
    assert.deepEqual(r.origins.get("Service/demo/web"), { file: join(dir, "b.yaml"), line: 8, col: 1 });
  });
});

void test("invalid YAML reports file:line", async () => {
  await withDir(async (dir) => {
    await writeFile(
      join(dir, "bad.yaml"),
      `${NS}---\nkind: Pod\nmetadata:\n  name: [unclosed\n  namespace: demo\n`,
    );
    const r = await loadConfigDir(dir);
    assert.equal(r.errors.length > 0, true);
    const e = r.errors[0]!;
    assert.equal(e.file, join(dir, "bad.yaml"));
    assert.match(e.message, /invalid YAML/);
    assert.ok(e.line >= 10 && e.line <= 12, `line ${e.line}`);
    assert.match(formatProblem(e), new RegExp(`^${join(dir, "bad.yaml")}:${e.line}:${e.col}: `));
  });
});

void test("an invalid field reports its path, its line and a fix", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "policy.yaml"), `${NS}---\n${POLICY_BAD_PRINCIPAL}`);
    const r = await loadConfigDir(dir);
    assert.equal(r.errors.length, 1);
    const e = r.errors[0]!;
    assert.equal(e.path, "spec.rules[0].from[1].source.principals[2]");
    assert.equal(e.object, "AuthorizationPolicy demo/allow-web");
    assert.equal(e.line, 23); // 6 lines of Namespace, "---", then the 16th line of the policy
    assert.equal(e.col, 17);
    assert.match(e.fix, /remove the entry/);
    assert.deepEqual(
      r.objects.map((o) => o.kind),
      ["Namespace"],
    );
  });
});

void test("a missing required field is reported at its parent, with the field to add", async () => {
  await withDir(async (dir) => {
    await writeFile(
      join(dir, "svc.yaml"),
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n    - name: http\n",
    );
    const r = await loadConfigDir(dir);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]!.path, "spec.ports[0].port");
    assert.equal(r.errors[0]!.line, 7);
    assert.match(r.errors[0]!.fix, /port/);
  });
});

void test("unknown kinds are warnings and are skipped; wrong apiVersion is an error", async () => {
  await withDir(async (dir) => {
    await writeFile(
      join(dir, "x.yaml"),
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: v1beta1\nkind: Pod\nmetadata: {name: p}\n",
    );
    const r = await loadConfigDir(dir);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!.message, /does not read kind Deployment/);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]!.path, "apiVersion");
    assert.equal(r.errors[0]!.line, 5);
    assert.match(r.errors[0]!.fix, /apiVersion: v1/);
  });
});

void test("a duplicate across files names both files", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "one.yaml"), NS);
    await writeFile(join(dir, "two.yaml"), `# comment\n${NS}`);
    const r = await loadConfigDir(dir);
    assert.equal(r.errors.length, 1);
    const e = r.errors[0]!;
    assert.equal(e.file, join(dir, "two.yaml"));
    assert.equal(e.line, 2);
    assert.match(e.message, /one\.yaml:1/);
    assert.match(e.fix, /two\.yaml/);
    assert.match(e.fix, /one\.yaml/);
  });
});

void test("a missing directory is one clear error", async () => {
  const r = await loadConfigDir(join(tmpdir(), "weft-does-not-exist-" + String(process.pid)));
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0]!.message, /ENOENT/);
  assert.match(r.errors[0]!.fix, /--config-dir/);
});

void test("mesh config and tokens come with the snapshot", async () => {
  await withDir(async (dir) => {
    await writeFile(
      join(dir, "mesh.yaml"),
      `apiVersion: weft.dev/v1alpha1
kind: WeftMeshConfig
metadata: {name: mesh}
spec:
  trustDomain: example.org
  defaultMtlsMode: STRICT
---
apiVersion: weft.dev/v1alpha1
kind: WeftTokenList
metadata: {name: tokens}
tokens:
  - token: 0123456789abcdef0123
    serviceAccount: weft-system/ztunnel
    nodeName: node-a
`,
    );
    const source = new FileSource({ dir });
    try {
      const snap = await source.start();
      assert.ok(snap);
      assert.equal(snap.mesh.trustDomain, "example.org");
      assert.equal(snap.mesh.rootNamespace, "weft-system");
      assert.equal(snap.mesh.defaultMtlsMode, "STRICT");
      assert.deepEqual(snap.tokens, [
        {
          token: "0123456789abcdef0123",
          namespace: "weft-system",
          serviceAccount: "ztunnel",
          nodeName: "node-a",
        },
      ]);
    } finally {
      await source.close();
    }
  });
});

/** Resolves with the next value a subscription delivers, or rejects after `ms`. */
function next<T>(subscribe: (cb: (v: T) => void) => () => void, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error("timed out waiting for the file source"));
    }, ms);
    const off = subscribe((v) => {
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}

for (const forcePolling of [false, true]) {
  void test(`watch (${forcePolling ? "polling" : "fs.watch"}): valid → new snapshot; invalid → errors, previous kept; fixed → new snapshot`, async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, "ns.yaml"), NS);
      const source = new FileSource({ dir, debounceMs: 50, pollIntervalMs: 100, forcePolling });
      try {
        const first = await source.start();
        assert.equal(first?.version, 1);

        let snap = next<ConfigSnapshot>((cb) => source.onSnapshot(cb));
        await writeFile(
          join(dir, "svc.yaml"),
          "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec: {ports: [{port: 80}]}\n",
        );
        const second = await snap;
        assert.equal(second.version, 2);
        assert.deepEqual(
          second.objects.map((o) => o.kind),
          ["Namespace", "Service"],
        );

        const invalid = next<readonly ConfigProblem[]>((cb) => source.onInvalid(cb));
        await writeFile(
          join(dir, "svc.yaml"),
          "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec: {ports: [{port: 99999}]}\n",
        );
        const errors = await invalid;
        assert.equal(errors[0]?.path, "spec.ports[0].port");
        assert.equal(errors[0]?.line, 4);
        assert.equal(source.current(), second, "the previous snapshot is still served");
        assert.equal(source.lastErrors().length, 1);

        snap = next<ConfigSnapshot>((cb) => source.onSnapshot(cb));
        await writeFile(
          join(dir, "svc.yaml"),
          "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec: {ports: [{port: 8080}]}\n",
        );
        const third = await snap;
        assert.equal(third.version, 3);
        assert.equal(source.current(), third);
        assert.deepEqual(source.lastErrors(), []);
      } finally {
        await source.close();
      }
    });
  });
}

void test("a reload hands unchanged objects over as the same objects (the incremental translator relies on it)", async () => {
  await withDir(async (dir) => {
    const pod = (name: string, ip: string): string =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: demo, labels: {app: web}}\nspec: {containers: [{name: c}]}\nstatus: {podIP: ${ip}}\n`;
    await writeFile(join(dir, "ns.yaml"), NS);
    await writeFile(join(dir, "pods.yaml"), `${pod("a", "10.0.0.1")}---\n${pod("b", "10.0.0.2")}`);
    const source = new FileSource({ dir, debounceMs: 50, pollIntervalMs: 100, forcePolling: true });
    try {
      const first = await source.start();
      assert.ok(first);
      const snap = next<ConfigSnapshot>((cb) => source.onSnapshot(cb));
      await writeFile(join(dir, "pods.yaml"), `${pod("a", "10.0.0.1")}---\n${pod("b", "10.0.0.9")}`);
      const second = await snap;
      const byName = (s: ConfigSnapshot, name: string) => s.objects.find((o) => o.metadata.name === name);
      assert.equal(byName(second, "demo"), byName(first, "demo"), "unchanged Namespace: same object");
      assert.equal(byName(second, "a"), byName(first, "a"), "unchanged pod: same object");
      assert.notEqual(byName(second, "b"), byName(first, "b"), "the changed pod is a new object");
      assert.notEqual(second.hash, first.hash);
    } finally {
      await source.close();
    }
  });
});

void test("a reload parses only the files whose text changed, and forgets deleted ones", async () => {
  await withDir(async (dir) => {
    const pod = (name: string, ip: string): string =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: demo}\nspec: {containers: [{name: c}]}\nstatus: {podIP: ${ip}}\n`;
    await writeFile(join(dir, "ns.yaml"), NS);
    await writeFile(join(dir, "a.yaml"), pod("a", "10.0.0.1"));
    await writeFile(join(dir, "b.yaml"), pod("b", "10.0.0.2"));
    const cache = new ParseCache();
    const first = await loadConfigDir(dir, cache);
    assert.deepEqual([cache.parsed, cache.reused], [3, 0]);

    // Same texts: nothing is parsed, and the objects are the very same ones.
    const again = await loadConfigDir(dir, cache);
    assert.deepEqual([cache.parsed, cache.reused], [3, 3]);
    assert.deepEqual(again.objects, first.objects);
    again.objects.forEach((o, i) => assert.equal(o, first.objects[i]));

    // One file edited: only it is parsed; an error in it is still reported from the cache's copy.
    await writeFile(join(dir, "b.yaml"), pod("b", "not-an-ip"));
    const broken = await loadConfigDir(dir, cache);
    assert.deepEqual([cache.parsed, cache.reused], [4, 5]);
    assert.equal(broken.errors.length, 1, JSON.stringify(broken.errors));
    const brokenAgain = await loadConfigDir(dir, cache);
    assert.deepEqual(brokenAgain.errors, broken.errors, "an unchanged invalid file stays invalid");

    // A deleted file's objects are gone, and a file re-created with the old text is parsed anew.
    await rm(join(dir, "b.yaml"));
    const without = await loadConfigDir(dir, cache);
    assert.deepEqual(
      without.objects.map((o) => o.metadata.name),
      ["demo", "a"],
    );
    await writeFile(join(dir, "b.yaml"), pod("b", "10.0.0.2"));
    const parsedBefore = cache.parsed;
    const back = await loadConfigDir(dir, cache);
    assert.equal(cache.parsed, parsedBefore + 1);
    assert.deepEqual(back.objects, first.objects);
  });
});
