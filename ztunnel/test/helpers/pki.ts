// A minimal test CA (a reimplementation of the controller's approach, which ztunnel tests cannot
// import): a self-signed P-256 root and SPIFFE leaves with whatever SANs and dates a test needs.
import { webcrypto, randomBytes } from "node:crypto";
import { EC_P256, pemEncode, x509 } from "../../src/identity/x509.js";
import type { MeshCredentials } from "../../src/tls/index.js";

export const TD = "cluster.local";
export const spiffe = (ns: string, sa: string, td = TD): string => `spiffe://${td}/ns/${ns}/sa/${sa}`;

type Keys = webcrypto.CryptoKeyPair;

export interface LeafOptions {
  /** URI SANs (exactly one for a valid mesh cert). */
  readonly uris: readonly string[];
  readonly dns?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export interface TestCa {
  readonly rootPem: string;
  /** Credentials for a leaf signed by this root, with the root as trust bundle. */
  credentials(opts: LeafOptions | string): Promise<MeshCredentials>;
  /** Signs a PKCS#10 CSR (PEM): the CSR's public key, the given URI, `ttlMs` lifetime. */
  signCsr(csrPem: string, uri: string, ttlMs: number): Promise<string[]>;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x3f) | 0x40;
  return b.toString("hex");
}

export async function keyPem(keys: Keys): Promise<string> {
  return pemEncode("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
}

async function newKeys(): Promise<Keys> {
  return webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
}

function leafExtensions(uris: readonly string[], dns: readonly string[] = []): x509.Extension[] {
  const names = [
    ...uris.map((value) => ({ type: "url" as const, value })),
    ...dns.map((value) => ({ type: "dns" as const, value })),
  ];
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension(names, true),
  ];
}

export async function createTestCa(name = "weft test root"): Promise<TestCa> {
  const rootKeys = await newKeys();
  const now = Date.now();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `O=${name}`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: EC_P256,
    keys: rootKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const rootPem = `${root.toString("pem")}\n`;

  async function issue(publicKey: webcrypto.CryptoKey, opts: LeafOptions): Promise<string> {
    const t = Date.now();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: "",
      issuer: root.subject,
      notBefore: opts.notBefore ?? new Date(t - 60_000),
      notAfter: opts.notAfter ?? new Date(t + 3600_000),
      signingAlgorithm: EC_P256,
      publicKey,
      signingKey: rootKeys.privateKey,
      extensions: [
        ...leafExtensions(opts.uris, opts.dns),
        await x509.AuthorityKeyIdentifierExtension.create(root),
      ],
    });
    return `${leaf.toString("pem")}\n`;
  }

  return {
    rootPem,
    async credentials(o) {
      const opts = typeof o === "string" ? { uris: [o] } : o;
      const keys = await newKeys();
      return {
        keyPem: await keyPem(keys),
        certChainPem: await issue(keys.publicKey, opts),
        trustBundlePem: rootPem,
      };
    },
    async signCsr(csrPem, uri, ttlMs) {
      const csr = new x509.Pkcs10CertificateRequest(csrPem);
      const publicKey = await webcrypto.subtle.importKey("spki", csr.publicKey.rawData, EC_P256, true, [
        "verify",
      ]);
      const t = Date.now();
      return [
        await issue(publicKey, { uris: [uri], notBefore: new Date(t - 1000), notAfter: new Date(t + ttlMs) }),
        rootPem,
      ];
    },
  };
}

/** A self-signed leaf claiming `uri`: a forged identity no mesh root vouches for. */
export async function selfSignedCredentials(uri: string, trustBundlePem: string): Promise<MeshCredentials> {
  const keys = await newKeys();
  const t = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "",
    notBefore: new Date(t - 60_000),
    notAfter: new Date(t + 3600_000),
    signingAlgorithm: EC_P256,
    keys,
    extensions: leafExtensions([uri]),
  });
  return { keyPem: await keyPem(keys), certChainPem: `${cert.toString("pem")}\n`, trustBundlePem };
}
