// Original-source routing in a pod netns: with it, a transparent socket bound to a foreign client
// IP reaches the app and gets the app's answers back (the app sees the client's IP); without it
// the answers leave by the pod's default route and the connection never completes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import {
  ORIGINAL_SOURCE_MARK,
  ORIGINAL_SOURCE_TABLE,
  closeFd,
  setUpOriginalSource,
  socketInNetns,
  takeDownOriginalSource,
} from "@weft/native";
import { Cleanup, NODE, capable, makeNetns, rootMissing, sh, suffix } from "./support.js";

const POD_IP = "10.98.0.2";
const POD_IP6 = "fd98::2";
const CLIENT_IP = "10.77.0.9";
const CLIENT_IP6 = "fd77::9";

/** What the app in the netns says: the peer it sees, or an error after `timeoutMs`. */
async function askApp(netnsPath: string, host: string, from: string, timeoutMs = 1500): Promise<string> {
  const fd = await socketInNetns(netnsPath, {
    family: net.isIP(host) === 6 ? 6 : 4,
    type: "tcp",
    transparent: true,
    mark: ORIGINAL_SOURCE_MARK,
  });
  return new Promise((resolve) => {
    let s: net.Socket;
    try {
      s = new net.Socket({ fd, readable: true, writable: true });
    } catch (err) {
      closeFd(fd);
      resolve(`error: ${(err as Error).message}`);
      return;
    }
    let got = "";
    const timer = setTimeout(() => {
      s.destroy();
      resolve("timeout");
    }, timeoutMs);
    s.setEncoding("utf8");
    s.on("data", (d: string) => (got += d));
    s.on("end", () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got.trim());
    });
    s.on("error", (err) => {
      clearTimeout(timer);
      resolve(`error: ${err.message}`);
    });
    s.connect({ host, port: 8080, localAddress: from });
  });
}

const rules = (ns: string, family: "-4" | "-6"): string => sh("ip", [family, "-n", ns, "rule", "show"]);

void describe("original-source routing in a pod netns", () => {
  const cleanup = new Cleanup();
  let ns: { name: string; path: string };

  before(async () => {
    if (rootMissing() !== undefined) return;
    ns = makeNetns(cleanup);
    // The pod: a veth with an IPv4 and an IPv6 address and a default route out of it, as a CNI
    // would leave it. Answers to a foreign client IP take that route unless steered back.
    const host = `wos${suffix()}`;
    sh("ip", ["link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.name]);
    cleanup.add(() => sh("ip", ["link", "del", host]));
    sh("ip", ["-n", ns.name, "addr", "add", `${POD_IP}/24`, "dev", "eth0"]);
    sh("ip", ["-n", ns.name, "addr", "add", `${POD_IP6}/64`, "dev", "eth0", "nodad"]);
    sh("ip", ["-n", ns.name, "link", "set", "eth0", "up"]);
    sh("ip", ["link", "set", host, "up"]);
    sh("ip", ["-n", ns.name, "route", "add", "default", "dev", "eth0"]);
    sh("ip", ["-6", "-n", ns.name, "route", "add", "default", "dev", "eth0"]);
    // The app: says whom it sees as its peer.
    const app = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns.name,
        NODE,
        "-e",
        `const net = require("net");
         let up = 0;
         for (const h of ["${POD_IP}", "${POD_IP6}"]) {
           const srv = net.createServer((s) => s.end("peer " + s.remoteAddress + "\\n"));
           srv.listen(8080, h, () => { if (++up === 2) console.log("up"); });
         }`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    cleanup.add(() => app.kill("SIGKILL"));
    await new Promise<void>((resolve, reject) => {
      app.stdout.on("data", (d: Buffer) => d.toString().includes("up") && resolve());
      app.once("exit", (code) => reject(new Error(`the test app exited (${code})`)));
    });
  });
  after(async () => {
    if (ns !== undefined) await takeDownOriginalSource(ns.path, { ipv6: true }).catch(() => {});
    cleanup.run();
  });

  void it("without it, an answer to a foreign client IP is lost", async (t) => {
    if (!capable(t, rootMissing())) return;
    assert.equal(await askApp(ns.path, POD_IP, CLIENT_IP), "timeout");
  });

  void it("with it, the app sees the client's own IP and its answers come back (IPv4 and IPv6)", async (t) => {
    if (!capable(t, rootMissing())) return;
    await setUpOriginalSource(ns.path, { ipv6: true });
    assert.equal(await askApp(ns.path, POD_IP, CLIENT_IP), `peer ${CLIENT_IP}`);
    assert.equal(await askApp(ns.path, POD_IP6, CLIENT_IP6), `peer ${CLIENT_IP6}`);
    assert.equal(
      sh("ip", ["netns", "exec", ns.name, "sysctl", "-n", "net.ipv4.tcp_fwmark_accept"]).trim(),
      "1",
    );
  });

  void it("is idempotent, and taking it down removes exactly what it added", async (t) => {
    if (!capable(t, rootMissing())) return;
    const rule = `fwmark 0x${ORIGINAL_SOURCE_MARK.toString(16)} lookup ${ORIGINAL_SOURCE_TABLE}`;
    await setUpOriginalSource(ns.path, { ipv6: true });
    await setUpOriginalSource(ns.path, { ipv6: true });
    for (const family of ["-4", "-6"] as const) {
      assert.equal(
        rules(ns.name, family)
          .split("\n")
          .filter((l) => l.includes(rule)).length,
        1,
        rules(ns.name, family),
      );
    }
    await takeDownOriginalSource(ns.path, { ipv6: true });
    await takeDownOriginalSource(ns.path, { ipv6: true });
    for (const family of ["-4", "-6"] as const) assert.ok(!rules(ns.name, family).includes(rule));
    assert.equal(
      sh("ip", ["-n", ns.name, "route", "show", "table", String(ORIGINAL_SOURCE_TABLE)]).trim(),
      "",
    );
    assert.equal(
      sh("ip", ["netns", "exec", ns.name, "sysctl", "-n", "net.ipv4.tcp_fwmark_accept"]).trim(),
      "0",
    );
    assert.equal(await askApp(ns.path, POD_IP, CLIENT_IP), "timeout", "answers are lost again");
  });

  void it("names the netns when it cannot be entered", async (t) => {
    if (!capable(t, rootMissing())) return;
    await assert.rejects(
      setUpOriginalSource("/run/netns/weft-no-such-netns", { ipv6: false }),
      (err: Error) => {
        assert.match(err.message, /original-source routing.*weft-no-such-netns/);
        return true;
      },
    );
  });
});
