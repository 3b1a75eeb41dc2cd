// The TypeScript codecs must agree with the C structs byte for byte. Read the BTF that clang put
// into the built objects (and the kernel's own BTF for bpf_sk_lookup) with bpftool, and compare
// every size and field offset the codecs assume.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MAP_STRUCTS, skLookupCtx, type StructLayout } from "@weft/native";
import { BPF_OUT, capable } from "./support.js";

interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
}

function bpftoolMissing(): string | undefined {
  try {
    execFileSync("bpftool", ["version"], { stdio: "ignore" });
  } catch {
    return "bpftool is not installed (apt-get install bpftool)";
  }
  return undefined;
}

function loadBtf(file: string): Map<number, BtfType> {
  const json = execFileSync("bpftool", ["btf", "dump", "file", file, "-j"], {
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
  const { types } = JSON.parse(json) as { types: BtfType[] };
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id);
  assert.ok(t, `BTF type ${id} exists`);
  switch (t.kind) {
    case "INT":
    case "STRUCT":
    case "UNION":
    case "ENUM":
      return t.size ?? 0;
    case "ARRAY":
      return (t.nr_elems ?? 0) * sizeOf(types, t.type_id ?? 0);
    case "TYPEDEF":
    case "VOLATILE":
    case "CONST":
    case "RESTRICT":
      return sizeOf(types, t.type_id ?? 0);
    case "PTR":
      return 8;
    default:
      throw new Error(`unexpected BTF kind ${t.kind}`);
  }
}

function checkLayout(
  types: Map<number, BtfType>,
  layout: StructLayout,
  renames: Record<string, string> = {},
): void {
  const struct = [...types.values()].find((t) => t.kind === "STRUCT" && t.name === layout.struct);
  assert.ok(struct?.members, `struct ${layout.struct} is in the BTF`);
  assert.equal(struct.size, layout.size, `sizeof(struct ${layout.struct})`);
  const members = new Map(struct.members.map((m) => [renames[m.name] ?? m.name, m]));
  assert.deepEqual(
    [...members.keys()].sort(),
    Object.keys(layout.fields).sort(),
    `fields of ${layout.struct}`,
  );
  for (const [name, field] of Object.entries(layout.fields)) {
    const m = members.get(name);
    assert.ok(m, `${layout.struct}.${name}`);
    assert.equal(m.bits_offset, field.offset * 8, `offsetof(${layout.struct}, ${name})`);
    assert.equal(sizeOf(types, m.type_id), field.size, `sizeof(${layout.struct}.${name})`);
  }
}

void describe("codec layout matches BTF", () => {
  void it("every map key/value struct, in every built object", (t) => {
    const objects = existsSync(BPF_OUT) ? readdirSync(BPF_OUT).filter((f) => f.endsWith(".bpf.o")) : [];
    if (
      !capable(
        t,
        bpftoolMissing() ?? (objects.length === 0 ? `no objects in ${BPF_OUT}: run make -C bpf` : undefined),
      )
    )
      return;
    for (const file of objects) {
      const types = loadBtf(join(BPF_OUT, file));
      for (const layout of MAP_STRUCTS) checkLayout(types, layout);
    }
  });

  void it("the kernel's struct bpf_sk_lookup (test_run context)", (t) => {
    const vmlinux = "/sys/kernel/btf/vmlinux";
    if (
      !capable(
        t,
        bpftoolMissing() ??
          (existsSync(vmlinux) ? undefined : "the kernel has no BTF (/sys/kernel/btf/vmlinux)"),
      )
    )
      return;
    // The selected socket / cookie is an anonymous union at offset 0.
    checkLayout(loadBtf(vmlinux), skLookupCtx, { "(anon)": "cookie" });
  });
});
