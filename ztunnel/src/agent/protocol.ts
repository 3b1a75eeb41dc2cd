// The node agent's enrol API (JSON over HTTP on a unix socket), shared by the server (api.ts), the
// client (client.ts, used by the CNI plugin) and tests. Kept free of heavy imports: the CNI plugin
// loads it on every pod start.
//
//   POST /enroll    EnrollRequest      → 200 { pod: PodRecord }
//   POST /unenroll  UnenrollRequest    → 200 { removed: boolean }   (idempotent)
//   GET  /pods                         → 200 { pods: PodRecord[] }
//   GET  /pods/<uid>                   → 200 { pod: PodRecord } | 404
//   GET  /healthz                      → 200 { ok: true }            (CNI STATUS)
// Errors: { error: { code: "WEFT_E_*", message, reason, fix } } with the status of ERROR_STATUS.

export interface EnrollRequest {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly netnsPath: string;
  /** Omitted: the agent finds it (see redirect/cgroup.ts). */
  readonly cgroupPath?: string;
  readonly ips: readonly string[];
  readonly containerId?: string;
}

/** At least one of uid and containerId (a CNI DEL may know only the container id). */
export interface UnenrollRequest {
  readonly uid?: string;
  readonly containerId?: string;
}

export interface ApiErrorBody {
  readonly error: { code: string; message: string; reason?: string; fix?: string };
}

/** HTTP status per error code; anything else is 500. */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  WEFT_E_INVALID_INPUT: 400,
  WEFT_E_NOT_FOUND: 404,
  WEFT_E_CONFLICT: 409,
  WEFT_E_UNAVAILABLE: 503,
};

export function statusOf(code: string): number {
  return ERROR_STATUS[code] ?? 500;
}

export const MAX_BODY_BYTES = 64 * 1024;
