// Shared fixtures for the CA tests: CSRs made the way a workload would make them.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import {
  EC_P256,
  exportPrivateKeyPem,
  generateRoot,
  loadRoot,
  x509,
  type SigningAuthority,
} from "../src/ca/index.js";

export const TD = "cluster.local";
export const spiffe = (ns: string, sa: string): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

export interface CsrFixture {
  readonly csrPem: string;
  readonly keyPem: string;
  readonly keys: webcrypto.CryptoKeyPair;
}

type SanJson = { type: "url" | "dns" | "ip" | "email"; value: string };

/** A PKCS#10 CSR with the given SANs (URI strings, or explicit typed names). */
export async function makeCsr(
  sans: readonly (string | SanJson)[],
  opts: {
    keys?: webcrypto.CryptoKeyPair;
    algorithm?: webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams;
  } = {},
): Promise<CsrFixture> {
  const algorithm = opts.algorithm ?? EC_P256;
  const keys = opts.keys ?? (await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]));
  const names = sans.map((s) => (typeof s === "string" ? { type: "url" as const, value: s } : s));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: algorithm,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return { csrPem: csr.toString("pem"), keyPem: await exportPrivateKeyPem(keys.privateKey), keys };
}

export async function newRoot(now?: Date): Promise<SigningAuthority> {
  const opts = now !== undefined ? { now } : {};
  return loadRoot({ ...(await generateRoot({ trustDomain: TD, ...opts })), ...opts });
}

/** A temp directory removed after `fn`, even when it throws. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "weft-ca-test-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Asserts that `p` rejects with a WeftError of `code` whose message matches `message`. */
export async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code !== code) {
      throw new Error(`expected ${code}, got ${String(e.code)}: ${e.message}`, { cause: err });
    }
    if (!message.test(e.message)) {
      throw new Error(`message ${JSON.stringify(e.message)} does not match ${String(message)}`, {
        cause: err,
      });
    }
    return e;
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
}

export const HOUR = 3600;
