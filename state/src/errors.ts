// The one place state/ builds errors, so every message follows core's `<code>: <cause> — <fix>` form.
import { weftError, type WeftError } from "@weft/core";

/** A resource the control plane sent that cannot be used; the xDS client NACKs it by name. */
export function invalidResource(kind: string, key: string, cause: string): WeftError {
  return weftError(
    "WEFT_E_INVALID_INPUT",
    `${kind} ${JSON.stringify(key)} rejected: ${cause}`,
    { kind, key },
    {
      fix: "fix the object this resource was translated from (or the control plane's translation); the rest of the push was applied",
    },
  );
}
