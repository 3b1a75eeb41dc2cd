// The CA client: istio.v1.auth.IstioCertificateService/CreateCertificate over gRPC/TLS (DESIGN
// §5), as Istio's ztunnel calls it, so weft's ztunnel could use Istio's CA and weft's CA serves
// Istio's ztunnel. The node agent asks for other service accounts' identities with the
// ImpersonatedIdentity metadata; the controller grants them only for pods on this node.
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CREATE_CERTIFICATE_PATH,
  GrpcCallError,
  GrpcHttp2Client,
  GrpcStatus,
  IstioCertificateRequestSchema,
  IstioCertificateResponseSchema,
  grpcStatusName,
  type GrpcCallStatus,
} from "@weft/api";
import { weftError, type Logger, type WeftError } from "@weft/core";
import { DEFAULT_CONTROLLER_NAME } from "@weft/state";
import { certificateBlocks, inspectIssuedChain } from "./chain.js";
import { csrPublicKeyDer } from "./csr.js";

/** Key in the request's metadata Struct naming the identity asked for (Istio's name). */
export const IMPERSONATED_IDENTITY_KEY = "ImpersonatedIdentity";
/** A CreateCertificate call that takes longer is abandoned and retried by the caller. */
export const DEFAULT_CA_TIMEOUT_MS = 10_000;

/** Anything that turns a CSR into a certificate chain: the CA client, or a fake in unit tests. */
export interface CertificateIssuer {
  /**
   * Asks for a certificate for `identity` (a SPIFFE URI) with the CSR's key, valid `ttlSeconds`.
   * Resolves with the chain, leaf first and root last; rejects with a WeftError.
   */
  issue(identity: string, csrPem: string, ttlSeconds: number): Promise<readonly string[]>;
  close(): void;
}

export interface CaIssuerOptions {
  /** `host:port` of the CA, e.g. `weft-controller.weft-system.svc:15012`. */
  readonly address: string;
  /** PEM root(s) the CA's serving certificate must chain to. */
  readonly caRootPem: string;
  /** Name verified in the CA's serving certificate; default `weft-controller.weft-system.svc`. */
  readonly serverName?: string;
  /** Bearer token sent as `authorization: Bearer <token>`. */
  readonly token?: string;
  /**
   * File holding the bearer token, re-read on every call: the kubelet rotates projected service
   * account tokens, and a token cached at start would expire under a long-running agent.
   */
  readonly tokenFile?: string;
  /** Deadline of one call; default 10 s. */
  readonly timeoutMs?: number;
  readonly logger?: Pick<Logger, "debug" | "warn">;
}

/** gRPC statuses after which the same request may well succeed: the CA or the path to it is down. */
const RETRYABLE = new Set<number>([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
  GrpcStatus.CANCELLED,
]);

/** A certificate chain is a few KiB; anything near this is not an answer from a CA. */
const MAX_CA_RESPONSE_BYTES = 4 << 20;

/**
 * The WeftError for a failed CreateCertificate call: its code says whose problem it is (token,
 * placement, CSR, CA availability), its message carries the CA's own explanation, and
 * `details.retryable` says whether trying again without changing anything can help.
 */
export function caCallError(err: GrpcCallStatus, identity: string, address: string): WeftError {
  const status = grpcStatusName(err.code);
  const details = {
    identity,
    address,
    grpcStatus: status,
    retryable: RETRYABLE.has(err.code),
    caDetails: err.details,
  };
  const said = err.details === "" ? "" : `: ${err.details}`;
  const code = err.code;
  if (code === GrpcStatus.UNAUTHENTICATED) {
    return weftError(
      "WEFT_E_CA_UNAUTHENTICATED",
      `the CA at ${address} did not accept this agent's token when asked for ${identity}${said}`,
      details,
      {
        fix: "check the agent's service account token (the projected token file exists, is not expired and has audience weft-ca) and that the CA trusts its issuer",
      },
    );
  }
  if (code === GrpcStatus.PERMISSION_DENIED) {
    return weftError(
      "WEFT_E_CA_PERMISSION_DENIED",
      `the CA at ${address} refused to issue ${identity} to this node agent${said}`,
      details,
      {
        fix: "a node agent gets only identities of pods scheduled on its own node: check that a running pod of that service account has spec.nodeName of this node and that the controller has seen it, and that the agent's service account is a trusted node agent",
      },
    );
  }
  if (code === GrpcStatus.INVALID_ARGUMENT) {
    return weftError(
      "WEFT_E_CA_BAD_CSR",
      `the CA at ${address} refused the request for ${identity} as malformed${said}`,
      details,
      { fix: "this is a bug in the agent's CSR or request: report it with this message" },
    );
  }
  if (code === GrpcStatus.UNIMPLEMENTED) {
    return weftError(
      "WEFT_E_PROTOCOL",
      `${address} does not serve istio.v1.auth.IstioCertificateService${said}`,
      details,
      { fix: "point the CA address at weft's controller (port 15012) or an Istio-compatible CA" },
    );
  }
  if (RETRYABLE.has(code)) {
    return weftError(
      code === GrpcStatus.DEADLINE_EXCEEDED ? "WEFT_E_TIMEOUT" : "WEFT_E_UNAVAILABLE",
      `the CA at ${address} is not reachable or not answering (${status}${said})`,
      details,
      {
        fix: "retried with backoff; if it persists, check that the controller is running and reachable, and that its serving certificate chains to the configured CA root for the expected server name",
      },
    );
  }
  return weftError(
    "WEFT_E_INTERNAL",
    `the CA at ${address} failed on the request for ${identity} (${status}${said})`,
    details,
    { fix: "see the controller's log for this request; retried with backoff" },
  );
}

/** A CertificateIssuer over one gRPC/TLS connection to the CA (the lean client of @weft/api). */
export function createCaIssuer(opts: CaIssuerOptions): CertificateIssuer {
  const serverName = opts.serverName ?? DEFAULT_CONTROLLER_NAME;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CA_TIMEOUT_MS;
  let secureContext: ReturnType<typeof createSecureContext>;
  try {
    // Node silently ignores a `ca` without certificates; then every call would fail verification
    // far from the cause. Refuse it here, naming it.
    const roots = certificateBlocks(opts.caRootPem);
    if (roots.length === 0) throw new Error("no PEM certificate in it");
    for (const pem of roots) new X509Certificate(pem);
    // One SecureContext for the connection (DESIGN §12), TLS 1.3 only (DESIGN §5).
    secureContext = createSecureContext({ ca: opts.caRootPem, minVersion: "TLSv1.3" });
  } catch (err) {
    throw weftError(
      "WEFT_E_CONFIG",
      `the CA root is not usable PEM (${(err as Error).message})`,
      { address: opts.address },
      { cause: err, fix: "configure the CA root file to hold the controller's root certificate (PEM)" },
    );
  }
  const client = new GrpcHttp2Client({
    address: opts.address,
    credentials: { kind: "tls", secureContext, serverName },
    maxReceiveMessageBytes: MAX_CA_RESPONSE_BYTES,
    userAgent: "weft-ztunnel",
  });

  async function bearerToken(): Promise<string | undefined> {
    if (opts.tokenFile === undefined) return opts.token;
    try {
      return (await readFile(opts.tokenFile, "utf8")).trim();
    } catch (err) {
      throw weftError(
        "WEFT_E_CA_UNAUTHENTICATED",
        `cannot read the CA token file ${opts.tokenFile} (${(err as Error).message})`,
        { tokenFile: opts.tokenFile },
        {
          cause: err,
          fix: "mount the projected service account token (audience weft-ca) at that path",
        },
      );
    }
  }

  async function call(
    identity: string,
    csrPem: string,
    ttlSeconds: number,
    token: string | undefined,
  ): Promise<readonly string[]> {
    const metadata: Record<string, string> =
      token !== undefined && token !== "" ? { authorization: `Bearer ${token}` } : {};
    const request = create(IstioCertificateRequestSchema, {
      csr: csrPem,
      validityDuration: BigInt(Math.max(0, Math.round(ttlSeconds))),
      // Sent even for the agent's own identity, as Istio's ztunnel does: the CA then checks the
      // one identity named here instead of guessing it from the token.
      metadata: { [IMPERSONATED_IDENTITY_KEY]: identity },
    });
    let answer: Buffer;
    try {
      answer = await client.unary(
        CREATE_CERTIFICATE_PATH,
        metadata,
        toBinary(IstioCertificateRequestSchema, request),
        { timeoutMs },
      );
    } catch (err) {
      const status =
        err instanceof GrpcCallError
          ? err
          : { code: GrpcStatus.UNAVAILABLE, details: (err as Error).message };
      throw caCallError(status, identity, opts.address);
    }
    try {
      return fromBinary(IstioCertificateResponseSchema, answer).certChain;
    } catch (err) {
      throw caCallError(
        { code: GrpcStatus.INTERNAL, details: `cannot decode the CA's answer: ${(err as Error).message}` },
        identity,
        opts.address,
      );
    }
  }

  return {
    async issue(identity, csrPem, ttlSeconds) {
      const publicKeyDer = csrPublicKeyDer(csrPem);
      const token = await bearerToken();
      const chain = await call(identity, csrPem, ttlSeconds, token);
      inspectIssuedChain(identity, chain, publicKeyDer, new Date());
      opts.logger?.debug({ identity, address: opts.address }, "certificate issued by the CA");
      return chain;
    },
    close() {
      client.close();
    },
  };
}
