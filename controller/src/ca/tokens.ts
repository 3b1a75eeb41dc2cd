// The file-source authenticator: bearer tokens listed in a file in the config directory stand in
// for Kubernetes TokenReview when the controller runs without an apiserver (demo, netns tests).
// Tokens are kept only as SHA-256 hashes and compared in constant time.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Caller } from "./authz.js";
import { caError, type CaFailureReason } from "./errors.js";

export interface TokenEntry {
  readonly tokenHash: Buffer;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName?: string;
  readonly nodeName?: string;
  readonly expiresAt?: Date;
}

export interface TokenTable {
  readonly entries: readonly TokenEntry[];
}

export type AuthenticationResult =
  | { readonly ok: true; readonly caller: Caller }
  | {
      readonly ok: false;
      readonly reason: Extract<CaFailureReason, `token_${string}`>;
      readonly message: string;
    };

/** The authenticator the CA depends on: the file table here, TokenReview in Kubernetes. */
export type Authenticator = (authorization: string | undefined, now: Date) => Promise<AuthenticationResult>;

const DNS1123 = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** Short tokens are guessable; a projected service account token is ~1 KiB. */
const MIN_TOKEN_LENGTH = 16;

const entrySchema = z
  .object({
    token: z.string(),
    serviceAccount: z.string().regex(/^[^/]+\/[^/]+$/, 'serviceAccount must be "namespace/name"'),
    podName: z.string().min(1).optional(),
    nodeName: z.string().min(1).optional(),
    expiresAt: z.union([z.string(), z.date()]).optional(),
  })
  .strict();

const fileSchema = z.union([z.array(entrySchema), z.object({ tokens: z.array(entrySchema) }).strict()]);

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/**
 * Parses a token file (YAML or JSON): a list of
 * `{ token, serviceAccount: "ns/sa", podName?, nodeName?, expiresAt? }`, or `{ tokens: [...] }`.
 * Throws WEFT_E_CONFIG naming the file and the entry at fault.
 */
export function parseTokenFile(text: string, source = "token file"): TokenTable {
  const bad = (cause: string): Error => caError("WEFT_E_CONFIG", `${source}: ${cause}`, "config");
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw bad(`not valid YAML or JSON (${(err as Error).message})`);
  }
  const parsed = fileSchema.safeParse(doc ?? []);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `at ${issue.path.join(".")}` : "at top level";
    throw bad(
      `${where}: ${issue?.message ?? "invalid"} — expected a list of { token, serviceAccount: "ns/sa", podName?, nodeName?, expiresAt? }`,
    );
  }
  const list = Array.isArray(parsed.data) ? parsed.data : parsed.data.tokens;
  return buildTokenTable(
    list.map((e) => {
      const [namespace = "", serviceAccount = ""] = e.serviceAccount.split("/");
      return { ...e, namespace, serviceAccount };
    }),
    source,
  );
}

/** A token as configuration holds it, before hashing (e.g. the file source's WeftTokenList entries). */
export interface PlainToken {
  readonly token: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName?: string;
  readonly nodeName?: string;
  /** RFC 3339 string or Date. */
  readonly expiresAt?: string | Date;
}

/** Validates plain tokens and keeps only their hashes. Throws WEFT_E_CONFIG naming the entry. */
export function buildTokenTable(tokens: readonly PlainToken[], source = "tokens"): TokenTable {
  const bad = (cause: string): Error => caError("WEFT_E_CONFIG", `${source}: ${cause}`, "config");
  const entries = tokens.map((e, i): TokenEntry => {
    if (e.token.length < MIN_TOKEN_LENGTH) {
      throw bad(`entry ${i}: token is shorter than ${MIN_TOKEN_LENGTH} characters — use a long random token`);
    }
    if (!DNS1123.test(e.namespace) || !DNS1123.test(e.serviceAccount)) {
      throw bad(
        `entry ${i}: serviceAccount "${e.namespace}/${e.serviceAccount}" is not two Kubernetes names "namespace/name"`,
      );
    }
    let expiresAt: Date | undefined;
    if (e.expiresAt !== undefined) {
      expiresAt = e.expiresAt instanceof Date ? e.expiresAt : new Date(e.expiresAt);
      if (Number.isNaN(expiresAt.getTime())) {
        throw bad(
          `entry ${i}: expiresAt "${String(e.expiresAt)}" is not a date — use RFC 3339, e.g. 2030-01-01T00:00:00Z`,
        );
      }
    }
    return {
      tokenHash: hashToken(e.token),
      namespace: e.namespace,
      serviceAccount: e.serviceAccount,
      ...(e.podName !== undefined ? { podName: e.podName } : {}),
      ...(e.nodeName !== undefined ? { nodeName: e.nodeName } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    };
  });
  return { entries };
}

export async function loadTokenFile(path: string): Promise<TokenTable> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw caError("WEFT_E_CONFIG", `cannot read token file ${path}: ${(err as Error).message}`, "config");
  }
  return parseTokenFile(text, path);
}

const BEARER_RE = /^Bearer +(\S+)$/i;

/**
 * Authenticates an `authorization` header value against the table. Every entry is compared
 * (no early exit) with timingSafeEqual over equal-length SHA-256 hashes, so timing reveals
 * neither the token nor which entry matched.
 */
export function authenticateBearer(
  tokens: TokenTable,
  authorization: string | undefined,
  now: Date,
): AuthenticationResult {
  if (authorization === undefined || authorization.trim() === "") {
    return {
      ok: false,
      reason: "token_missing",
      message: "no bearer token — send the service account token as 'authorization: Bearer <token>'",
    };
  }
  const m = BEARER_RE.exec(authorization.trim());
  const token = m?.[1];
  if (token === undefined) {
    return {
      ok: false,
      reason: "token_malformed",
      message: "the authorization header is not 'Bearer <token>'",
    };
  }
  const presented = hashToken(token);
  let match: TokenEntry | undefined;
  for (const entry of tokens.entries) {
    if (timingSafeEqual(entry.tokenHash, presented) && match === undefined) match = entry;
  }
  if (match === undefined) {
    return {
      ok: false,
      reason: "token_unknown",
      message:
        "the bearer token is not known to the CA — check the token file (or that the token was not rotated)",
    };
  }
  if (match.expiresAt !== undefined && now.getTime() >= match.expiresAt.getTime()) {
    return {
      ok: false,
      reason: "token_expired",
      message: `the bearer token of ${match.namespace}/${match.serviceAccount} expired at ${match.expiresAt.toISOString()} — issue a fresh token`,
    };
  }
  return {
    ok: true,
    caller: {
      namespace: match.namespace,
      serviceAccount: match.serviceAccount,
      ...(match.podName !== undefined ? { podName: match.podName } : {}),
      ...(match.nodeName !== undefined ? { nodeName: match.nodeName } : {}),
    },
  };
}

/** An Authenticator over a fixed token table. */
export function tokenTableAuthenticator(tokens: TokenTable): Authenticator {
  return (authorization, now) => Promise.resolve(authenticateBearer(tokens, authorization, now));
}
