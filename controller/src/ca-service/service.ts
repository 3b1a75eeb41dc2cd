// The CA's gRPC service as the controller process serves it: the CA library's adapter
// (`caGrpcHandlers`: metadata token, ImpersonatedIdentity, error → status mapping) wrapped with
// what the process adds — graceful-shutdown tracking, input checks the adapter leaves to the
// core, and one log line per refusal. Nothing a caller sends can crash the process.
import * as grpc from "@grpc/grpc-js";
import { CaService, type CaHandlers } from "@weft/api";
import type { Drain, Logger } from "@weft/core";
import { IMPERSONATED_IDENTITY_KEY, caGrpcHandlers, type CertificateAuthority } from "../ca/index.js";

export interface CaServiceOptions {
  readonly ca: CertificateAuthority;
  readonly logger?: Pick<Logger, "info" | "warn" | "error">;
  /** Tracks in-flight requests for graceful shutdown; new requests are refused once draining. */
  readonly drain?: Drain;
}

/** Why a request is malformed before it reaches the CA, or undefined. */
export function requestProblem(req: {
  validityDuration: bigint;
  metadata?: Record<string, unknown>;
}): string | undefined {
  if (req.validityDuration < 0n || req.validityDuration > BigInt(Number.MAX_SAFE_INTEGER)) {
    return `validity_duration ${req.validityDuration} is out of range — send seconds, e.g. 86400 for 24 h, or 0 for the default`;
  }
  const impersonated = req.metadata?.[IMPERSONATED_IDENTITY_KEY];
  if (impersonated !== undefined && typeof impersonated !== "string") {
    return `metadata field ${IMPERSONATED_IDENTITY_KEY} must be a SPIFFE id string, got ${JSON.stringify(impersonated)}`;
  }
  return undefined;
}

export function caServiceHandlers(opts: CaServiceOptions): CaHandlers {
  const { logger, drain } = opts;
  const inner = caGrpcHandlers(opts.ca).createCertificate;
  return {
    createCertificate: (call, callback) => {
      let release: () => void = () => undefined;
      try {
        if (drain !== undefined) release = drain.enter();
      } catch {
        callback({
          code: grpc.status.UNAVAILABLE,
          details: "the controller is shutting down — retry against another replica",
        });
        return;
      }
      const problem = requestProblem(call.request);
      if (problem !== undefined) {
        release();
        logger?.warn({ peer: call.getPeer(), details: problem }, "certificate request malformed");
        callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
        return;
      }
      try {
        inner(call, (err, res) => {
          release();
          if (err) {
            const code = (err as grpc.StatusObject).code;
            const log =
              code === grpc.status.INTERNAL ? logger?.error.bind(logger) : logger?.warn.bind(logger);
            log?.(
              { peer: call.getPeer(), code: grpc.status[code], details: (err as grpc.StatusObject).details },
              "certificate refused",
            );
          }
          callback(err, res);
        });
      } catch (err) {
        release();
        logger?.error({ err }, "CA handler threw");
        callback({
          code: grpc.status.INTERNAL,
          details: "the CA failed to process the request — see the controller's log",
        });
      }
    },
  };
}

/** Registers IstioCertificateService on a grpc-js server. */
export function addCaService(server: grpc.Server, opts: CaServiceOptions): void {
  server.addService(CaService, caServiceHandlers(opts));
}
