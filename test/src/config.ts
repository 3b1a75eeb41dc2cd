// The environment variables @weft/test reads (DESIGN §9: only config.ts reads process.env).
//   CI — "true" on CI. Root-only suites skip with a printed reason on a machine without root, but
//        on CI nothing may silently skip, so there they fail instead.
import type { WeftError } from "./netns/errors.js";
import { capabilityProblem, currentPrivileges } from "./netns/host.js";

export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return env["CI"] === "true";
}

/** Test options for a root-only suite given the privilege check; pure, so it is table-tested. */
export function rootOnlyOptions(problem: WeftError | undefined, ci: boolean): { skip?: string } {
  if (problem === undefined) return {};
  if (ci) throw problem; // CI=true: a root suite that cannot run is a failure, not a skip
  const reason = `needs root: ${problem.message}`;
  console.log(`# skipping root-only suite: ${reason}`);
  return { skip: reason };
}

/**
 * Options for node:test `describe`/`test` of suites that build netns worlds:
 * `{}` as root, `{ skip: reason }` otherwise, and a thrown WEFT_E_CAPABILITY under CI=true.
 */
export function rootOnly(): { skip?: string } {
  return rootOnlyOptions(capabilityProblem(currentPrivileges()), isCi());
}
