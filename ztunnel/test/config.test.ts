// ztunnel's environment: the GC switch for socket read buffers (docs/perf/l4-hot-path.md).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readZtunnelConfig } from "../src/config.js";

const base = { WEFT_NODE_NAME: "node-a" };

void describe("readZtunnelConfig: WEFT_ZTUNNEL_GC_COUNTS_EXTERNAL_MEMORY", () => {
  void it("is on by default and can be turned off", () => {
    assert.equal(readZtunnelConfig(base).gcCountsExternalMemory, true);
    assert.equal(
      readZtunnelConfig({ ...base, WEFT_ZTUNNEL_GC_COUNTS_EXTERNAL_MEMORY: "false" }).gcCountsExternalMemory,
      false,
    );
  });

  void it("refuses a value that is not a boolean, naming the variable", () => {
    assert.throws(
      () => readZtunnelConfig({ ...base, WEFT_ZTUNNEL_GC_COUNTS_EXTERNAL_MEMORY: "sometimes" }),
      /WEFT_ZTUNNEL_GC_COUNTS_EXTERNAL_MEMORY/,
    );
  });
});
