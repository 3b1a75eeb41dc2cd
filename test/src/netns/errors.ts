// The testbed's one error constructor, so every message has core's `<code>: <cause> — <fix>` form
// and names a fix specific to the testbed.
import { weftError, type WeftError, type WeftErrorCode } from "@weft/core";

export { WeftError, isWeftError, type WeftErrorCode } from "@weft/core";

export function testbedError(
  code: WeftErrorCode,
  cause: string,
  fix: string,
  details?: Record<string, unknown>,
): WeftError {
  return weftError(code, cause, details, { fix });
}
