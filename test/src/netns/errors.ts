// The testbed's one error constructor, so every message has core's `<code>: <cause> — <fix>` form.
// @weft/core's WeftError registry is being written in parallel; until it exports `WeftError`, this
// class carries the same shape (code, fix, details) and switching is a change to this file only.
// Codes this package needs beyond core's base set: WEFT_E_CAPABILITY, WEFT_E_NAME_COLLISION.

export type TestbedErrorCode =
  | "WEFT_E_INVALID_INPUT"
  | "WEFT_E_CAPABILITY"
  | "WEFT_E_NAME_COLLISION"
  | "WEFT_E_UNAVAILABLE"
  | "WEFT_E_INTERNAL";

export class WeftError extends Error {
  override readonly name = "WeftError";
  constructor(
    readonly code: TestbedErrorCode,
    readonly causeText: string,
    readonly fix: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(`${code}: ${causeText} — ${fix}`);
  }
}

export function testbedError(
  code: TestbedErrorCode,
  cause: string,
  fix: string,
  details?: Record<string, unknown>,
): WeftError {
  return new WeftError(code, cause, fix, details);
}
