// istio.v1.auth.IstioCertificateService over grpc-js: a thin adapter from the wire request to
// CertificateAuthority.createCertificate and from WeftError codes to gRPC status codes.
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { IstioCertificateResponseSchema, type CaHandlers, type IstioCertificateRequest } from "@weft/api";
import type { CertificateAuthority } from "./ca.js";

/** Key in the request's metadata Struct naming the identity a node agent asks for (Istio's name). */
export const IMPERSONATED_IDENTITY_KEY = "ImpersonatedIdentity";

const STATUS_BY_CODE: Readonly<Record<string, grpc.status>> = {
  WEFT_E_CA_UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  WEFT_E_CA_PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  WEFT_E_CA_BAD_CSR: grpc.status.INVALID_ARGUMENT,
  WEFT_E_INVALID_INPUT: grpc.status.INVALID_ARGUMENT,
  // An authenticator whose backend (TokenReview) is down: the client should retry.
  WEFT_E_UNAVAILABLE: grpc.status.UNAVAILABLE,
};

/** The gRPC status for an error thrown by createCertificate. */
export function grpcStatusOf(err: unknown): grpc.status {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === "string" ? STATUS_BY_CODE[code] : undefined) ?? grpc.status.INTERNAL;
}

function impersonatedIdentityOf(req: IstioCertificateRequest): string | undefined {
  const value = req.metadata?.[IMPERSONATED_IDENTITY_KEY];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Handlers for `server.addService(CaService, caGrpcHandlers(ca))`. */
export function caGrpcHandlers(ca: CertificateAuthority): CaHandlers {
  return {
    createCertificate: (call, callback) => {
      const auth = call.metadata.get("authorization")[0];
      const impersonatedIdentity = impersonatedIdentityOf(call.request);
      ca.createCertificate({
        authorization: auth === undefined ? undefined : auth.toString(),
        csrPem: call.request.csr,
        validitySeconds: Number(call.request.validityDuration),
        ...(impersonatedIdentity !== undefined ? { impersonatedIdentity } : {}),
      }).then(
        ({ certChain }) => callback(null, create(IstioCertificateResponseSchema, { certChain })),
        (err: unknown) => callback({ code: grpcStatusOf(err), details: (err as Error).message }),
      );
    },
  };
}
