// Stable error codes for every weft component. Operators grep logs and docs for these strings, and
// tests assert on them, so a code is never renamed, removed or reused for another meaning. Add new
// codes at the end of their group; a wrong summary or fix may be reworded.

export interface ErrorCodeInfo {
  /** One line: what went wrong, in the operator's terms. */
  readonly summary: string;
  /** The default remedy, used when the thrower has no more specific one. */
  readonly fix: string;
}

export const ERROR_CODES = {
  // --- general ---
  WEFT_E_INVALID_INPUT: {
    summary: "an argument or request is malformed or out of range",
    fix: "correct the value named in the message",
  },
  WEFT_E_CONFIG: {
    summary: "configuration (environment variables, flags or files) is invalid",
    fix: "set each variable named in the message to the expected form, or unset it to use the default",
  },
  WEFT_E_PERMISSION: {
    summary: "the operating system refused an operation (EPERM/EACCES)",
    fix: "run as a user that may perform the operation named in the message",
  },
  WEFT_E_NOT_FOUND: {
    summary: "a named object does not exist",
    fix: "check the name in the message; create the object first or fix the reference",
  },
  WEFT_E_CONFLICT: {
    summary: "the operation conflicts with existing state",
    fix: "remove or rename the conflicting object, or retry after the concurrent change settles",
  },
  WEFT_E_UNAVAILABLE: {
    summary: "a dependency or the component itself is not accepting work right now",
    fix: "retry later; if it persists, check that the component named in the message is running and not draining",
  },
  WEFT_E_INTERNAL: {
    summary: "an invariant inside weft was violated (a bug)",
    fix: "report it at the weft issue tracker with this message and the surrounding logs",
  },
  WEFT_E_TIMEOUT: {
    summary: "an operation did not finish within its deadline",
    fix: "check that the peer named in the message is reachable and healthy, or raise the timeout",
  },

  // --- mesh ---
  WEFT_E_TOPOLOGY: {
    summary: "a test topology specification is invalid",
    fix: "fix the node/pod/network entry named in the message",
  },
  WEFT_E_CAPABILITY: {
    summary: "the process lacks a privilege or kernel facility it needs (capability, bpffs, cgroup v2)",
    fix: "run as root or grant the capabilities named in the message, and make sure bpffs and cgroup v2 are mounted",
  },
  WEFT_E_NAME_COLLISION: {
    summary: "two objects claim the same name, address or port",
    fix: "rename one of the objects named in the message",
  },
  WEFT_E_BPF: {
    summary: "loading, attaching or updating an eBPF program or map failed",
    fix: "check the kernel log (dmesg) and that the kernel has BTF and supports the named program type",
  },
  WEFT_E_NETNS: {
    summary: "entering or using a network namespace failed",
    fix: "check that the namespace path exists and the process has CAP_SYS_ADMIN",
  },
  WEFT_E_XDS_NACK: {
    summary: "a data-plane client rejected configuration pushed over xDS",
    fix: "fix the resource named in the NACK detail; the client keeps its last good configuration",
  },
  WEFT_E_CA_UNAUTHENTICATED: {
    summary: "the CA could not authenticate the caller requesting a certificate",
    fix: "present a valid service-account token or mTLS client certificate to the CA",
  },
  WEFT_E_CA_PERMISSION_DENIED: {
    summary: "the caller is authenticated but may not obtain the requested identity",
    fix: "request only identities of pods running on the caller's own node",
  },
  WEFT_E_CA_BAD_CSR: {
    summary: "a certificate signing request is malformed or asks for disallowed content",
    fix: "send a PKCS#10 CSR with exactly one SPIFFE URI SAN and an EC P-256 or RSA 2048+ key",
  },
  WEFT_E_TLS: {
    summary: "a TLS handshake or certificate check failed",
    fix: "check that both peers share the trust bundle and that the certificates are not expired",
  },
  WEFT_E_DRAIN_TIMEOUT: {
    summary: "in-flight work did not finish before the drain deadline and was closed",
    fix: "raise the drain deadline if clients need longer to finish, or accept the forced closes",
  },
  WEFT_E_PROTOCOL: {
    summary: "a peer sent data that violates the protocol (HBONE, HTTP, xDS or DNS)",
    fix: "check that the peer is a compatible weft or Istio component of a supported version",
  },
  WEFT_E_DENIED: {
    summary: "an authorization policy denied the connection or request",
    fix: "add or change an AuthorizationPolicy allowing this source, or check the source identity",
  },
  WEFT_E_PORT_IN_USE: {
    summary: "a listening port is already bound by another process",
    fix: "stop the other process on that port, or configure a different port",
  },
  WEFT_E_UNSUPPORTED: {
    summary: "the kernel or platform lacks a feature weft needs",
    fix: "use a kernel and platform listed as supported in the docs",
  },
  WEFT_E_ABORTED: {
    summary: "an operation was cancelled before it completed",
    fix: "none needed if the cancellation was intended (shutdown); otherwise find who aborted it",
  },
} as const satisfies Record<`WEFT_E_${string}`, ErrorCodeInfo>;

export type WeftErrorCode = keyof typeof ERROR_CODES;

export interface WeftErrorOptions {
  /** Extra structured facts for logs (paths, pids, resource names). */
  details?: Record<string, unknown>;
  /** A remedy more specific than the registry's default. */
  fix?: string;
  /** The underlying error, kept as the standard `Error.cause`. */
  cause?: unknown;
}

/**
 * An error with a stable code, the cause in words and the fix. `message` is
 * `<code>: <reason> — <fix>`; `reason` holds the cause text alone, `cause` (standard) the underlying error.
 */
export class WeftError extends Error {
  readonly code: WeftErrorCode;
  readonly reason: string;
  readonly fix: string;
  readonly details?: Record<string, unknown>;

  constructor(code: WeftErrorCode, reason: string, options: WeftErrorOptions = {}) {
    const fix = options.fix ?? ERROR_CODES[code].fix;
    super(`${code}: ${reason} — ${fix}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WeftError";
    this.code = code;
    this.reason = reason;
    this.fix = fix;
    if (options.details !== undefined) this.details = options.details;
  }

  /** The shape written to structured logs. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      name: this.name,
      code: this.code,
      message: this.message,
      reason: this.reason,
      fix: this.fix,
    };
    if (this.details !== undefined) out.details = this.details;
    if (this.cause !== undefined) out.cause = describeCause(this.cause);
    return out;
  }
}

function describeCause(cause: unknown): unknown {
  if (cause instanceof WeftError) return cause.toJSON();
  if (cause instanceof Error) {
    const errno = (cause as NodeJS.ErrnoException).code;
    return errno === undefined
      ? { name: cause.name, message: cause.message }
      : { name: cause.name, message: cause.message, code: errno };
  }
  return cause;
}

export function weftError(
  code: WeftErrorCode,
  cause: string,
  details?: Record<string, unknown>,
  options: Omit<WeftErrorOptions, "details"> = {},
): WeftError {
  return new WeftError(code, cause, details === undefined ? options : { ...options, details });
}

/** True for any WeftError, or only for those with `code` when given. */
export function isWeftError(value: unknown, code?: WeftErrorCode): value is WeftError {
  return value instanceof WeftError && (code === undefined || value.code === code);
}
