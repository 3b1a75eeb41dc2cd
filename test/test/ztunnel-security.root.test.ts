// L4 security end to end (root): the real controller and ztunnels on the netns testbed. An
// AuthorizationPolicy DENY blocks exactly the identities it names; PeerAuthentication STRICT turns
// away plaintext from a pod outside the mesh (PERMISSIVE let it in); certificates from another
// trust domain, expired ones and forged ones are refused at :15008 while a good one is accepted;
// malformed HBONE gets the right status or a clean close, and ztunnel keeps serving everyone else.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { generateRoot, loadOrCreateRoot, signCsr } from "@weft/controller";
import { generateKeyAndCsr } from "@weft/ztunnel";
import {
  Mesh,
  hboneProbe,
  metricSum,
  rootOnly,
  startServer,
  sweepStale,
  tcpEcho,
  type ProbeCredentials,
  type World,
} from "@weft/test";

const ECHO = 7000;
const ECHO_ID = "spiffe://cluster.local/ns/shop/sa/echo";

const DENY_BAD = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-bad, namespace: shop }
spec:
  selector: { matchLabels: { app: echo } }
  action: DENY
  rules:
    - from:
        - source: { principals: [cluster.local/ns/shop/sa/bad] }
`;

const STRICT = `apiVersion: weft.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
`;

async function reachable(world: World, from: string, host: string): Promise<boolean> {
  try {
    return (await tcpEcho(world, from, { host, port: ECHO, bytes: 4096 })).ok;
  } catch {
    return false;
  }
}

void describe(
  "L4 security: authorization, STRICT mTLS, certificates, bad input",
  { ...rootOnly(), timeout: 300_000 },
  () => {
    let mesh: Mesh | undefined;
    const m = (): Mesh => mesh ?? assert.fail("mesh was not built");
    const echoIp = (): string => m().world.pod("echo").ipv4;

    before(async () => {
      await sweepStale();
      mesh = await Mesh.create({
        nodes: ["node-a", "node-b"],
        pods: [
          { name: "good", node: "node-a" },
          { name: "bad", node: "node-a" },
          { name: "echo", node: "node-b", app: "echo", serviceAccount: "echo" },
          { name: "outsider", node: "node-a", enrol: false },
        ],
        extraYaml: DENY_BAD,
      });
      await startServer(mesh.world, "echo", "tcp-echo", ECHO);
    });

    after(async () => {
      await mesh?.destroy();
    });

    void it("an AuthorizationPolicy DENY blocks exactly the identity it names", async () => {
      assert.equal(await reachable(m().world, "good", echoIp()), true, "good is allowed");
      assert.equal(await reachable(m().world, "bad", echoIp()), false, "bad is denied");
      const b = await m().scrape("node-b");
      assert.ok(
        metricSum(b, "weft_ztunnel_connections_refused_total", {
          direction: "inbound",
          response_flags: "DENY",
        }) >= 1,
        b,
      );
      const a = await m().scrape("node-a");
      assert.ok(
        metricSum(a, "weft_ztunnel_connections_refused_total", {
          direction: "outbound",
          response_flags: "DENY",
        }) >= 1,
        a,
      );
    });

    void it("PERMISSIVE lets a plaintext client outside the mesh in; STRICT refuses it and counts the refusal", async () => {
      assert.equal(
        await reachable(m().world, "outsider", echoIp()),
        true,
        "PERMISSIVE (the default) accepts plaintext",
      );
      // The app sees the plaintext client itself (original source), not ztunnel.
      const seen = await tcpEcho(m().world, "outsider", { host: echoIp(), port: ECHO, bytes: 1024 });
      assert.equal(seen.serverSaw?.peer.address, m().world.pod("outsider").ipv4);
      const before = metricSum(await m().scrape("node-b"), "weft_ztunnel_connections_refused_total", {
        direction: "inbound",
        response_flags: "DENY",
      });
      await m().writeConfigFile("strict.yaml", STRICT);
      let refused = false;
      for (let i = 0; i < 50 && !refused; i++) {
        refused = !(await reachable(m().world, "outsider", echoIp()));
        if (!refused) await sleep(200);
      }
      assert.equal(refused, true, "STRICT refuses plaintext");
      const after = metricSum(await m().scrape("node-b"), "weft_ztunnel_connections_refused_total", {
        direction: "inbound",
        response_flags: "DENY",
      });
      assert.ok(after > before, `refusal counted (${before} → ${after})`);
      assert.ok(
        metricSum(await m().scrape("node-b"), "weft_ztunnel_inbound_authorizations_total", {
          decision: "deny",
          reason: "DENY_MATCHED",
          transport: "plaintext",
        }) >= 1,
      );
      assert.equal(
        await reachable(m().world, "good", echoIp()),
        true,
        "mTLS traffic still flows under STRICT",
      );
      const { stdout } = await m().ztunnels.get("node-b")!.process.logs();
      assert.match(stdout, /"msg":"inbound plaintext refused"/);
      assert.match(stdout, /weft_converted_static_strict/);
    });

    void describe("certificates at :15008", () => {
      let meshRoot: ProbeCredentials["rootPem"] = "";
      const leaf = async (
        identity: string,
        opts: { now?: Date; foreignRoot?: boolean } = {},
      ): Promise<ProbeCredentials> => {
        const { authority } = await loadOrCreateRoot(m().caDir, { trustDomain: "cluster.local" });
        const signer = opts.foreignRoot === true ? await otherAuthority() : authority;
        const { keyPem, csrPem } = await generateKeyAndCsr(identity);
        const signed = await signCsr(signer, {
          csrPem,
          identity,
          ttlSeconds: 3600,
          ...(opts.now ? { now: opts.now } : {}),
        });
        return { keyPem, chainPem: signed.certChain.join(""), rootPem: meshRoot };
      };
      const otherAuthority = async () => {
        const other = await generateRoot({ trustDomain: "cluster.local" });
        const dir = join(m().dir, "other-ca");
        const { mkdir, writeFile } = await import("node:fs/promises");
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, "ca-cert.pem"), other.certPem);
        await writeFile(join(dir, "ca-key.pem"), other.keyPem, { mode: 0o600 });
        return (await loadOrCreateRoot(dir, { trustDomain: "cluster.local" })).authority;
      };
      const probe = (creds: ProbeCredentials, mode?: "connect" | "get" | "big-headers", authority?: string) =>
        hboneProbe(
          m().world,
          "outsider",
          { host: echoIp(), authority: authority ?? `${echoIp()}:${ECHO}`, expectedIdentity: ECHO_ID },
          creds,
          mode,
        );

      before(async () => {
        meshRoot = await readFile(m().rootCertFile, "utf8");
      });

      void it("accepts a certificate the mesh CA issued (the control case)", async () => {
        const r = await probe(await leaf("spiffe://cluster.local/ns/shop/sa/good"));
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.match(r.echoed ?? "", /hello over hbone$/);
      });

      void it("refuses a certificate from another trust domain", async () => {
        const r = await probe(await leaf("spiffe://evil.example/ns/shop/sa/good"));
        assert.equal(r.ok, false, JSON.stringify(r));
        const { stdout } = await m().ztunnels.get("node-b")!.process.logs();
        assert.match(
          stdout,
          /spiffe:\/\/evil\.example\/ns\/shop\/sa\/good is outside trust domain cluster\.local/,
        );
      });

      void it("refuses an expired certificate", async () => {
        const r = await probe(
          await leaf("spiffe://cluster.local/ns/shop/sa/good", { now: new Date(Date.now() - 3 * 3600_000) }),
        );
        assert.equal(r.ok, false, JSON.stringify(r));
      });

      void it("refuses a forged certificate (the right SAN, signed by another root)", async () => {
        const r = await probe(await leaf("spiffe://cluster.local/ns/shop/sa/good", { foreignRoot: true }));
        assert.equal(r.ok, false, JSON.stringify(r));
      });

      void it("answers malformed HBONE with the right status or a clean close, and keeps serving", async () => {
        const good = await leaf("spiffe://cluster.local/ns/shop/sa/good");
        assert.equal((await probe(good, "get")).status, 405, "a method other than CONNECT");
        assert.equal(
          (await probe(good, "connect", `${m().world.pod("good").ipv4}:${ECHO}`)).status,
          400,
          "an :authority that is not this pod",
        );
        assert.equal(
          (await probe(good, "connect", "not-an-address:80")).status,
          400,
          "an unparseable :authority",
        );
        const big = await probe(good, "big-headers");
        assert.notEqual(big.status, 200, `an oversized header list: ${JSON.stringify(big)}`);
        const garbage = await hboneProbe(
          m().world,
          "outsider",
          { host: echoIp(), authority: "", expectedIdentity: ECHO_ID },
          undefined,
          "garbage",
        );
        assert.equal(garbage.ok, false);
        // Still up, and everyone else unaffected.
        assert.equal((await probe(good)).ok, true);
        assert.equal(await reachable(m().world, "good", echoIp()), true);
        assert.equal(
          m().ztunnels.get("node-b")!.process.status,
          undefined,
          "ztunnel on node-b is still running",
        );
        const { stdout } = await m().ztunnels.get("node-b")!.process.logs();
        assert.match(stdout, /"reason":"method GET is not CONNECT"/);
        assert.match(stdout, /HBONE TLS handshake failed/);
      });
    });
  },
);
