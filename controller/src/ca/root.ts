// The CA's signing material: generate a self-signed root, or load an operator-provided root or
// intermediate (e.g. issued by cert-manager) together with its chain, validating everything an
// operator can get wrong before the first certificate is signed with it.
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  CertificateParseError,
  certPem,
  describeCert,
  fingerprint,
  isCa,
  isSignedBy,
  mayIssueCertificates,
  parseCertificates,
  pathLenProblem,
  randomSerial,
  sameName,
  validityProblem,
} from "./certs.js";
import { caError } from "./errors.js";
import {
  EC_P256,
  exportPrivateKeyPem,
  generateKeyPair,
  importSigningKeyPem,
  KeyImportError,
  type SigningKey,
} from "./keys.js";
import { x509, type CryptoKey } from "./x509.js";

/** File names inside a CA directory: the same keys as Istio's `cacerts` Secret. */
export const CA_FILES = {
  cert: "ca-cert.pem",
  key: "ca-key.pem",
  chain: "cert-chain.pem",
  root: "root-cert.pem",
} as const;

const DAY_MS = 86_400_000;
/** Longest chain from the signing certificate to the root that we follow. */
const MAX_CHAIN_DEPTH = 8;

/** A validated CA, ready to sign. Plain data; immutable. */
export interface SigningAuthority {
  /** The certificate whose key signs leaves: the root itself, or an intermediate. */
  readonly cert: x509.X509Certificate;
  readonly key: SigningKey;
  /**
   * The certificates a leaf's chain carries after the leaf, in order: `cert`, any intermediates
   * above it, and the root last. For a self-signed root this is just `[root]`.
   */
  readonly issuerChain: readonly x509.X509Certificate[];
  /** The trust anchor at the top of `issuerChain`. */
  readonly root: x509.X509Certificate;
  /** `issuerChain` as PEM strings, precomputed because every issuance returns them. */
  readonly issuerChainPem: readonly string[];
}

export interface GeneratedCa {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: x509.X509Certificate;
  /** The private key (extractable, so it can be persisted). */
  readonly key: CryptoKey;
}

export interface GenerateRootOptions {
  readonly trustDomain: string;
  readonly validityDays?: number;
  readonly now?: Date;
  /** Also put `spiffe://<trustDomain>` in a URI SAN (off by default, like Istio's root). */
  readonly spiffeSan?: boolean;
}

/** Generates a self-signed ECDSA P-256 root CA: O=<trustDomain>, CN=weft root CA. */
export async function generateRoot(opts: GenerateRootOptions): Promise<GeneratedCa> {
  const now = opts.now ?? new Date();
  const keys = await generateKeyPair();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (opts.spiffeSan === true) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${opts.trustDomain}` }]),
    );
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ O: [opts.trustDomain] }, { CN: ["weft root CA"] }],
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (opts.validityDays ?? 3650) * DAY_MS),
    signingAlgorithm: EC_P256,
    keys,
    extensions,
  });
  return {
    certPem: certPem(cert),
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    cert,
    key: keys.privateKey,
  };
}

export interface IssueIntermediateOptions {
  readonly parent: SigningAuthority;
  readonly trustDomain: string;
  readonly commonName?: string;
  readonly validityDays?: number;
  readonly now?: Date;
}

/**
 * Issues an intermediate CA (P-256) under `parent`. weft itself signs with a root or with an
 * operator's intermediate; this exists so tests and the CLI can build the same layout cert-manager
 * produces. Returns the intermediate; its chain is `parent.issuerChain`.
 */
export async function issueIntermediate(opts: IssueIntermediateOptions): Promise<GeneratedCa> {
  const now = opts.now ?? new Date();
  const keys = await generateKeyPair();
  const parentSki = opts.parent.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ O: [opts.trustDomain] }, { CN: [opts.commonName ?? "weft intermediate CA"] }],
    issuer: opts.parent.cert.subjectName,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (opts.validityDays ?? 365) * DAY_MS),
    signingAlgorithm: opts.parent.key.signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: opts.parent.key.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      parentSki !== null
        ? new x509.AuthorityKeyIdentifierExtension(parentSki.keyId)
        : await x509.AuthorityKeyIdentifierExtension.create(opts.parent.cert.publicKey),
    ],
  });
  return {
    certPem: certPem(cert),
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    cert,
    key: keys.privateKey,
  };
}

export interface LoadRootInput {
  /** The signing certificate (a root, or an intermediate). Extra certificates after it count as chain. */
  readonly certPem: string;
  readonly keyPem: string;
  /** Certificates from the signing certificate up to the root (Istio's cert-chain.pem). */
  readonly chainPem?: string;
  /** The root (Istio's root-cert.pem), when not already at the end of chainPem. */
  readonly rootPem?: string;
  readonly now?: Date;
  /** Names to use for each input in messages, e.g. file paths. Defaults to Istio's key names. */
  readonly sources?: Partial<Record<keyof typeof CA_FILES, string>>;
}

/**
 * Validates operator-provided (or previously generated) CA material and returns a signing
 * authority: the key must match the certificate, the certificate must be a CA allowed to sign
 * certificates and currently valid, and an intermediate's chain must reach a self-signed root.
 * Throws WEFT_E_CONFIG naming the file, the problem and the fix.
 */
export async function loadRoot(input: LoadRootInput): Promise<SigningAuthority> {
  const now = input.now ?? new Date();
  const src = { ...CA_FILES, ...input.sources };
  const bad = (cause: string): Error => caError("WEFT_E_CONFIG", cause, "config");

  const certs = parsePemOrThrow(input.certPem, src.cert, bad);
  const cert = certs[0];
  if (cert === undefined) throw bad(`${src.cert} holds no certificate — put the CA certificate in it`);

  let key: SigningKey;
  try {
    key = importSigningKeyPem(input.keyPem);
  } catch (err) {
    if (err instanceof KeyImportError) throw bad(`${src.key}: ${err.message}`);
    throw err;
  }
  if (!Buffer.from(cert.publicKey.rawData).equals(key.spkiDer)) {
    throw bad(
      `${src.key} does not match the certificate in ${src.cert} ${describeCert(cert)} — ` +
        `the key and certificate come from different pairs; provide the private key that belongs to ${src.cert}`,
    );
  }
  if (!isCa(cert)) {
    throw bad(
      `${src.cert} ${describeCert(cert)} is not a CA certificate (BasicConstraints CA:true is missing) — ` +
        `provide a root or intermediate CA certificate, not a leaf (with cert-manager: isCA: true)`,
    );
  }
  if (!mayIssueCertificates(cert)) {
    throw bad(
      `${src.cert} ${describeCert(cert)} has KeyUsage without keyCertSign — reissue it with keyCertSign`,
    );
  }
  const dateProblem = validityProblem(cert, now);
  if (dateProblem !== undefined) throw bad(`${src.cert}: ${dateProblem} — renew the CA certificate`);

  const pool = [
    ...certs.slice(1),
    ...(input.chainPem !== undefined && input.chainPem.trim() !== ""
      ? parsePemOrThrow(input.chainPem, src.chain, bad)
      : []),
    ...(input.rootPem !== undefined && input.rootPem.trim() !== ""
      ? parsePemOrThrow(input.rootPem, src.root, bad)
      : []),
  ];
  const path = await pathToRoot(cert, pool, now, src, bad);
  const root = path[path.length - 1] ?? cert;
  if (input.rootPem !== undefined && input.rootPem.trim() !== "") {
    const declared = parsePemOrThrow(input.rootPem, src.root, bad)[0];
    if (declared !== undefined && fingerprint(declared) !== fingerprint(root)) {
      throw bad(
        `${src.root} ${describeCert(declared)} is not the root that ${src.cert} chains to ${describeCert(root)} — ` +
          `put the root that issued the chain in ${src.root}`,
      );
    }
  }
  return { cert, key, root, issuerChain: path, issuerChainPem: path.map(certPem) };
}

/** Walks from `cert` to a self-signed root through `pool`, verifying each signature. */
async function pathToRoot(
  cert: x509.X509Certificate,
  pool: readonly x509.X509Certificate[],
  now: Date,
  src: Record<keyof typeof CA_FILES, string>,
  bad: (cause: string) => Error,
): Promise<x509.X509Certificate[]> {
  const path = [cert];
  let current = cert;
  for (let depth = 0; depth <= MAX_CHAIN_DEPTH; depth++) {
    if (sameName(current.subjectName, current.issuerName) && (await isSignedBy(current, current)))
      return path;
    const seen = new Set(path.map(fingerprint));
    let issuer: x509.X509Certificate | undefined;
    for (const candidate of pool) {
      if (seen.has(fingerprint(candidate))) continue;
      if (!sameName(candidate.subjectName, current.issuerName)) continue;
      if (await isSignedBy(current, candidate)) {
        issuer = candidate;
        break;
      }
    }
    if (issuer === undefined) {
      throw bad(
        `${describeCert(current)} was issued by "${current.issuer}", which is not in ${src.chain} or ${src.root} — ` +
          `${src.cert} is an intermediate; provide its chain up to the self-signed root ` +
          `(${src.chain} = intermediates then root, or ${src.root} = the root)`,
      );
    }
    if (!isCa(issuer) || !mayIssueCertificates(issuer)) {
      throw bad(
        `${describeCert(issuer)} in the chain is not a CA allowed to sign certificates — fix the chain`,
      );
    }
    const problem = validityProblem(issuer, now);
    if (problem !== undefined) throw bad(`chain certificate ${problem} — renew it and update ${src.chain}`);
    // Leaves go below `cert`, so `path.length` CA certificates sit under this issuer.
    const depthProblem = pathLenProblem(issuer, path.length);
    if (depthProblem !== undefined) {
      throw bad(
        `${depthProblem}, so leaves signed with ${src.cert} would not verify — sign with a CA higher up the chain`,
      );
    }
    path.push(issuer);
    current = issuer;
  }
  throw bad(`the chain above ${src.cert} is longer than ${MAX_CHAIN_DEPTH} certificates — shorten it`);
}

function parsePemOrThrow(pem: string, source: string, bad: (cause: string) => Error): x509.X509Certificate[] {
  try {
    return parseCertificates(pem);
  } catch (err) {
    if (err instanceof CertificateParseError) {
      throw bad(`${source} ${err.message} — it must contain PEM "CERTIFICATE" blocks`);
    }
    throw err;
  }
}

export interface LoadOrCreateOptions {
  readonly trustDomain: string;
  readonly validityDays?: number;
  readonly now?: Date;
}

/**
 * The file-source equivalent of the CA Secret: loads ca-cert.pem / ca-key.pem (and optional
 * cert-chain.pem / root-cert.pem) from `dir`; when neither of the pair exists, generates a root
 * once and writes it (key 0600). Returns whether it generated.
 */
export async function loadOrCreateRoot(
  dir: string,
  opts: LoadOrCreateOptions,
): Promise<{ authority: SigningAuthority; created: boolean }> {
  const paths = {
    cert: join(dir, CA_FILES.cert),
    key: join(dir, CA_FILES.key),
    chain: join(dir, CA_FILES.chain),
    root: join(dir, CA_FILES.root),
  };
  const [certPemText, keyPemText, chainPem, rootPem] = await Promise.all([
    readIfExists(paths.cert),
    readIfExists(paths.key),
    readIfExists(paths.chain),
    readIfExists(paths.root),
  ]);
  if (certPemText !== undefined && keyPemText !== undefined) {
    const authority = await loadRoot({
      certPem: certPemText,
      keyPem: keyPemText,
      ...(chainPem !== undefined ? { chainPem } : {}),
      ...(rootPem !== undefined ? { rootPem } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      sources: paths,
    });
    return { authority, created: false };
  }
  if (certPemText !== undefined || keyPemText !== undefined) {
    const [present, missing] = certPemText !== undefined ? [paths.cert, paths.key] : [paths.key, paths.cert];
    throw caError(
      "WEFT_E_CONFIG",
      `${present} exists but ${missing} does not — provide both files of the CA pair, ` +
        `or remove ${present} to let weft generate a new root (workloads will need new certificates)`,
      "config",
    );
  }
  const generated = await generateRoot({
    trustDomain: opts.trustDomain,
    ...(opts.validityDays !== undefined ? { validityDays: opts.validityDays } : {}),
    ...(opts.now !== undefined ? { now: opts.now } : {}),
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Key first, certificate last: the certificate's presence marks a complete pair.
  await writeFileAtomic(paths.key, generated.keyPem, 0o600);
  await writeFileAtomic(paths.cert, generated.certPem, 0o644);
  const authority = await loadRoot({
    certPem: generated.certPem,
    keyPem: generated.keyPem,
    ...(opts.now !== undefined ? { now: opts.now } : {}),
    sources: paths,
  });
  return { authority, created: true };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw caError(
      "WEFT_E_CONFIG",
      `cannot read ${path}: ${(err as Error).message} — check its permissions`,
      "config",
    );
  }
}

/** Write to a temp file with the final mode, fsync, rename over the target, fsync the directory. */
async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    const fh = await open(tmp, "wx", mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw caError(
      "WEFT_E_CONFIG",
      `cannot write ${path}: ${(err as Error).message} — check the directory is writable`,
      "config",
    );
  }
  const dirHandle = await open(join(path, ".."), "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
