// bpffs checks for pin roots. The kernel answers pinning outside bpffs with a bare EPERM; checking
// first turns that into an error that says to mount bpffs.
import { existsSync, mkdirSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { weftError } from "@weft/core";

export const BPF_FS_MAGIC = 0xcafe4a11;
export const DEFAULT_PIN_ROOT = "/sys/fs/bpf/weft";

/** Is `path` (which must exist) on a bpffs mount? */
export function isOnBpffs(path: string): boolean {
  // statfs reports f_type as a signed long on some platforms; compare as unsigned 32-bit.
  return statfsSync(path).type >>> 0 === BPF_FS_MAGIC;
}

function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

/**
 * Make sure `pinRoot` exists inside bpffs (creating directories below an existing bpffs one).
 * Throws WEFT_E_CAPABILITY naming the mount command when bpffs is not there.
 */
export function ensurePinRoot(pinRoot: string): string {
  const root = resolve(pinRoot);
  const existing = nearestExisting(root);
  if (!isOnBpffs(existing)) {
    throw weftError(
      "WEFT_E_CAPABILITY",
      `pin root ${root} is not on a bpffs mount (${existing} is not bpffs)`,
      { pinRoot: root },
      {
        fix: "mount bpffs (mount -t bpf bpf /sys/fs/bpf) and use a pin root inside it, e.g. /sys/fs/bpf/weft",
      },
    );
  }
  if (existing !== root) mkdirSync(root, { recursive: true });
  return root;
}
