// The CNI plugin as a pure function of (environment, stdin, agent): a table of invocations against
// a fake agent, checking the spec's result and error shapes. The real executable, chained after
// bridge, is exercised by test/test/cni-plugin.root.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AgentError,
  AgentUnreachable,
  CNI_ERROR,
  ipsOf,
  parseCniArgs,
  runCni,
  statusOf,
  type AgentPort,
  type CniEnvironment,
  type EnrollRequest,
  type UnenrollRequest,
} from "@weft/ztunnel";

const PREV = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", sandbox: "/run/netns/p" }],
  ips: [
    { address: "10.251.7.2/24", gateway: "10.251.7.1", interface: 0 },
    { address: "fd00:7::2/64", interface: 0 },
  ],
};
const CONF = { cniVersion: "1.0.0", name: "k8s", type: "weft-cni", agentSocket: "/run/weft/cni.sock" };
const ENV: CniEnvironment = {
  command: "ADD",
  containerId: "sandbox1",
  netns: "/run/netns/p",
  ifname: "eth0",
  args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-0;K8S_POD_UID=u-1",
  path: "/opt/cni/bin",
};

class FakeAgent implements AgentPort {
  enrolled: EnrollRequest[] = [];
  unenrolled: UnenrollRequest[] = [];
  constructor(readonly fail?: Error) {}
  enroll(req: EnrollRequest): Promise<unknown> {
    if (this.fail) return Promise.reject(this.fail);
    this.enrolled.push(req);
    return Promise.resolve({ pod: req });
  }
  unenroll(req: UnenrollRequest): Promise<unknown> {
    if (this.fail) return Promise.reject(this.fail);
    this.unenrolled.push(req);
    return Promise.resolve({ removed: true });
  }
  pod(uid: string): Promise<unknown> {
    if (this.fail) return Promise.reject(this.fail);
    return Promise.resolve(this.enrolled.find((p) => p.uid === uid));
  }
  health(): Promise<unknown> {
    return this.fail ? Promise.reject(this.fail) : Promise.resolve({ ok: true });
  }
}

const DOWN = new AgentUnreachable(
  "/run/weft/cni.sock",
  "ENOENT",
  "the weft node agent is not reachable at /run/weft/cni.sock (ENOENT)",
);

async function run(env: Partial<CniEnvironment>, stdin: unknown, agent = new FakeAgent()) {
  const out = await runCni(
    { env: { ...ENV, ...env }, stdin: typeof stdin === "string" ? stdin : JSON.stringify(stdin) },
    () => agent,
  );
  const json = out.stdout.trim() === "" ? undefined : (JSON.parse(out.stdout) as Record<string, unknown>);
  return { ...out, json, agent };
}

void describe("weft-cni", () => {
  void it("ADD enrols the pod (uid, name, namespace, netns, IPs from prevResult) and returns prevResult", async () => {
    const r = await run({}, { ...CONF, prevResult: PREV });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.json, PREV);
    assert.deepEqual(r.agent.enrolled, [
      {
        uid: "u-1",
        name: "cart-0",
        namespace: "shop",
        containerId: "sandbox1",
        netnsPath: "/run/netns/p",
        ips: ["10.251.7.2", "fd00:7::2"],
      },
    ]);
  });

  void it("ADD passes WEFT_CGROUP through and falls back to the container id without kubelet", async () => {
    const r = await run({ args: "WEFT_CGROUP=/sys/fs/cgroup/x" }, { ...CONF, prevResult: PREV });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.agent.enrolled[0], {
      uid: "sandbox1",
      name: "sandbox1",
      namespace: "default",
      containerId: "sandbox1",
      cgroupPath: "/sys/fs/cgroup/x",
      netnsPath: "/run/netns/p",
      ips: ["10.251.7.2", "fd00:7::2"],
    });
  });

  void it("ADD leaves excluded namespaces alone", async () => {
    const r = await run(
      { args: "K8S_POD_NAMESPACE=kube-system;K8S_POD_UID=u" },
      { ...CONF, prevResult: PREV },
    );
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.agent.enrolled, []);
  });

  const errors: [string, Partial<CniEnvironment>, unknown, AgentPort | undefined, number, RegExp][] = [
    ["malformed stdin", {}, "{oops", undefined, CNI_ERROR.DECODE_FAILURE, /cannot decode/],
    ["stdin not an object", {}, "[1]", undefined, CNI_ERROR.DECODE_FAILURE, /not a JSON object/],
    [
      "unknown version",
      {},
      { ...CONF, cniVersion: "0.3.1" },
      undefined,
      CNI_ERROR.INCOMPATIBLE_VERSION,
      /0\.3\.1/,
    ],
    ["no name", {}, { ...CONF, name: "" }, undefined, CNI_ERROR.INVALID_CONFIG, /"name"/],
    ["bad timeout", {}, { ...CONF, timeoutMs: -1 }, undefined, CNI_ERROR.INVALID_CONFIG, /timeoutMs/],
    ["not chained", {}, CONF, undefined, CNI_ERROR.INVALID_CONFIG, /must be chained/],
    ["no IPs", {}, { ...CONF, prevResult: { ips: [] } }, undefined, CNI_ERROR.INVALID_CONFIG, /no IPs/],
    ["no CNI_COMMAND", { command: undefined }, CONF, undefined, CNI_ERROR.INVALID_ENV, /CNI_COMMAND/],
    ["unknown command", { command: "FROB" }, CONF, undefined, CNI_ERROR.INVALID_ENV, /FROB/],
    [
      "no CNI_NETNS on ADD",
      { netns: "" },
      { ...CONF, prevResult: PREV },
      undefined,
      CNI_ERROR.INVALID_ENV,
      /CNI_NETNS/,
    ],
    [
      "agent down on ADD",
      {},
      { ...CONF, prevResult: PREV },
      new FakeAgent(DOWN),
      CNI_ERROR.TRY_AGAIN_LATER,
      /not reachable/,
    ],
    [
      "agent refuses (conflict)",
      {},
      { ...CONF, prevResult: PREV },
      new FakeAgent(new AgentError(409, "WEFT_E_CONFLICT", "WEFT_E_CONFLICT: pod u-1 is already enrolled")),
      CNI_ERROR.ENROL_REFUSED,
      /already enrolled/,
    ],
    [
      "agent: netns not found",
      {},
      { ...CONF, prevResult: PREV },
      new FakeAgent(new AgentError(404, "WEFT_E_NOT_FOUND", "network namespace /run/netns/p does not exist")),
      CNI_ERROR.UNKNOWN_CONTAINER,
      /does not exist/,
    ],
    [
      "CHECK of an unknown pod",
      { command: "CHECK" },
      { ...CONF, prevResult: PREV },
      undefined,
      CNI_ERROR.NOT_CAPTURED,
      /not captured/,
    ],
    [
      "STATUS with the agent down",
      { command: "STATUS" },
      CONF,
      new FakeAgent(DOWN),
      CNI_ERROR.NOT_AVAILABLE,
      /not ready/,
    ],
  ];
  for (const [name, env, stdin, agent, code, msg] of errors) {
    void it(`error: ${name} → code ${code}`, async () => {
      const r = await run(env, stdin, agent as FakeAgent | undefined);
      assert.equal(r.exitCode, 1);
      assert.equal(r.json?.["code"], code);
      assert.match(String(r.json?.["msg"]), msg);
      assert.equal(typeof r.json?.["cniVersion"], "string");
    });
  }

  void it("DEL unenrols by uid and container id, and succeeds with the agent down", async () => {
    const r = await run({ command: "DEL", netns: "" }, CONF);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, "");
    assert.deepEqual(r.agent.unenrolled, [{ uid: "u-1", containerId: "sandbox1" }]);
    const down = await run({ command: "DEL" }, CONF, new FakeAgent(DOWN));
    assert.equal(down.exitCode, 0);
    assert.match(down.stderr ?? "", /not reachable/);
  });

  void it("VERSION answers in the asked version, or the latest", async () => {
    const r = await run({ command: "VERSION" }, { cniVersion: "0.4.0" });
    assert.deepEqual(r.json, { cniVersion: "0.4.0", supportedVersions: ["0.4.0", "1.0.0", "1.1.0"] });
    assert.equal((await run({ command: "VERSION" }, "garbage")).json?.["cniVersion"], "1.1.0");
  });

  void it("GC is a no-op success (the agent collects pods whose netns is gone)", async () => {
    assert.equal((await run({ command: "GC" }, { ...CONF, cniVersion: "1.1.0" })).exitCode, 0);
  });

  void it("helpers: CNI_ARGS, prevResult IPs, API status codes", () => {
    assert.deepEqual(parseCniArgs("A=1;B=x=y;;bad;C="), { A: "1", B: "x=y", C: "" });
    assert.deepEqual(ipsOf({ ips: [{ address: "10.0.0.1/32" }, {}, { address: "fd00::1/128" }] }), [
      "10.0.0.1",
      "fd00::1",
    ]);
    assert.deepEqual(
      ["WEFT_E_INVALID_INPUT", "WEFT_E_NOT_FOUND", "WEFT_E_CONFLICT", "WEFT_E_UNAVAILABLE", "WEFT_E_BPF"].map(
        statusOf,
      ),
      [400, 404, 409, 503, 500],
    );
  });
});
