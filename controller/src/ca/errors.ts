// The CA's error vocabulary. Every refusal leaves the CA as a WeftError with a stable code, so the
// gRPC layer maps codes to status (UNAUTHENTICATED / PERMISSION_DENIED / INVALID_ARGUMENT) and
// the metrics layer counts by a low-cardinality reason.
import { weftError, type WeftError } from "@weft/core";

export type CaErrorCode =
  | "WEFT_E_CA_UNAUTHENTICATED"
  | "WEFT_E_CA_PERMISSION_DENIED"
  | "WEFT_E_CA_BAD_CSR"
  | "WEFT_E_INVALID_INPUT"
  | "WEFT_E_CONFIG"
  | "WEFT_E_INTERNAL";

/**
 * Why a request was refused, as a metric label: a closed set, never free text. The human
 * explanation travels in the error message.
 */
export type CaFailureReason =
  | "token_missing"
  | "token_malformed"
  | "token_unknown"
  | "token_expired"
  | "impersonation_not_allowed"
  | "impersonation_no_node"
  | "impersonation_no_pod_on_node"
  | "identity_invalid"
  | "identity_foreign_trust_domain"
  | "csr_unparsable"
  | "csr_bad_signature"
  | "csr_weak_key"
  | "csr_no_san"
  | "csr_san_refused"
  | "validity_invalid"
  | "config"
  | "internal";

/**
 * Builds a CA error. `text` is "<cause> — <fix>" (the fix after the first " — "), the same
 * form decisions return to callers; the fix part replaces core's generic remedy for the code, so
 * the message reads `<code>: <cause> — <fix>` with the specific fix. Without " — " the code's
 * default fix is used.
 */
export function caError(
  code: CaErrorCode,
  text: string,
  reason: CaFailureReason,
  details?: Record<string, unknown>,
): WeftError {
  const at = text.indexOf(FIX_SEPARATOR);
  const cause = at < 0 ? text : text.slice(0, at);
  const fix = at < 0 ? undefined : text.slice(at + FIX_SEPARATOR.length);
  return weftError(code, cause, { reason, ...details }, fix !== undefined ? { fix } : {});
}

const FIX_SEPARATOR = " — ";

/** The reason label of a CA error, or "internal" for anything that is not one. */
export function failureReasonOf(err: unknown): CaFailureReason {
  if (typeof err === "object" && err !== null && "details" in err) {
    const details = (err as { details?: Record<string, unknown> }).details;
    const reason = details?.["reason"];
    if (typeof reason === "string") return reason as CaFailureReason;
  }
  return "internal";
}
