// Native failures arrive as WeftNativeError (code = errno name or ENOTBPFFS/ENOTNETNS, errno,
// syscall, path, and libbpf's log); here they become WeftErrors whose message names what weft was
// doing, the errno, and the fix an operator can apply.
import { WeftError, type WeftErrorCode } from "@weft/core";

/** The error shape thrown (or passed to callbacks) by the addon. */
export interface WeftNativeError extends Error {
  name: "WeftNativeError";
  code: string;
  errno: number;
  syscall: string;
  path?: string;
  /** libbpf's output for the failed call (e.g. the verifier log), when there was any. */
  log?: string;
}

export function isWeftNativeError(value: unknown): value is WeftNativeError {
  return (
    value instanceof Error &&
    value.name === "WeftNativeError" &&
    typeof (value as { code?: unknown }).code === "string"
  );
}

/** Which subsystem an operation belongs to: decides the error code and the fix. */
export type Domain = "bpf" | "netns";

const BPF_CAPS_FIX =
  "run as root or with CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN on kernels before 5.8); " +
  "for pins also CAP_SYS_ADMIN on a mounted bpffs";
const NETNS_CAPS_FIX =
  "run with CAP_SYS_ADMIN (setns) and CAP_NET_ADMIN, plus CAP_SYS_PTRACE to open other users' /proc/<pid>/ns/net";

function classify(err: WeftNativeError, domain: Domain): { code: WeftErrorCode; fix?: string } {
  switch (err.code) {
    case "EPERM":
    case "EACCES":
      return { code: "WEFT_E_CAPABILITY", fix: domain === "bpf" ? BPF_CAPS_FIX : NETNS_CAPS_FIX };
    case "ENOTBPFFS":
      return {
        code: "WEFT_E_CAPABILITY",
        fix: "mount bpffs (mount -t bpf bpf /sys/fs/bpf) and use a pin root inside it, e.g. /sys/fs/bpf/weft",
      };
    case "ENOTNETNS":
      return {
        code: "WEFT_E_NETNS",
        fix: "pass a network namespace file: /proc/<pid>/ns/net or /run/netns/<name>",
      };
    case "EADDRINUSE":
      return { code: "WEFT_E_PORT_IN_USE" };
    default:
      break;
  }
  if (err.syscall === "argument") return { code: "WEFT_E_INVALID_INPUT" };
  const code = domain === "netns" ? "WEFT_E_NETNS" : "WEFT_E_BPF";
  switch (err.code) {
    case "ENOENT":
      return {
        code,
        fix: "check that the path in the message exists: objects are built by make -C bpf; a pod's cgroup or netns is gone once the pod is",
      };
    case "EBADF":
      return {
        code,
        fix: "keep the object, map, link or fd open while it is in use (it was closed already)",
      };
    case "EINVAL":
      return domain === "bpf"
        ? {
            code,
            fix: "attach cgroup programs with attachCgroup to a cgroup v2 directory and sk_lookup with attachNetns to a netns file",
          }
        : { code };
    default:
      return { code };
  }
}

/** The last few meaningful lines of a libbpf log: usually the verifier's verdict. */
function logTail(log: string | undefined, lines = 3): string | undefined {
  if (log === undefined) return undefined;
  const kept = log
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("--"));
  return kept.length === 0 ? undefined : kept.slice(-lines).join(" | ");
}

/**
 * Convert whatever the addon threw while doing `action` (e.g. "attach sk_lookup to
 * /proc/123/ns/net") into a WeftError. Non-native errors (already WeftErrors, bugs) pass through.
 */
export function toWeftError(err: unknown, action: string, domain: Domain): Error {
  if (!isWeftNativeError(err)) return err instanceof Error ? err : new Error(String(err));
  const { code, fix } = classify(err, domain);
  const tail = logTail(err.log);
  const reason = `${action}: ${err.code} (${err.message})${tail === undefined ? "" : `; libbpf: ${tail}`}`;
  return new WeftError(code, reason, {
    ...(fix === undefined ? {} : { fix }),
    cause: err,
    details: {
      native: { code: err.code, errno: err.errno, syscall: err.syscall, path: err.path },
      ...(err.log === undefined ? {} : { log: err.log }),
    },
  });
}

/** Run `fn`, converting native failures with toWeftError. */
export function wrapNative<T>(action: string | (() => string), domain: Domain, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toWeftError(err, typeof action === "string" ? action : action(), domain);
  }
}

/** The native errno-style code behind a WeftError made here ("ENOENT", "EPERM", ...), if any. */
export function nativeCode(err: unknown): string | undefined {
  if (isWeftNativeError(err)) return err.code;
  if (err instanceof WeftError) {
    const n = err.details?.native as { code?: unknown } | undefined;
    return typeof n?.code === "string" ? n.code : undefined;
  }
  return undefined;
}
