export {
  DEFAULT_CA_TIMEOUT_MS,
  IMPERSONATED_IDENTITY_KEY,
  caCallError,
  createCaIssuer,
  type CaIssuerOptions,
  type CertificateIssuer,
} from "./ca-client.js";
export { certificateBlocks, inspectIssuedChain, type IssuedCertificate } from "./chain.js";
export { csrPublicKeyDer, generateKeyAndCsr, type KeyAndCsr } from "./csr.js";
export { FetchQueue, type FetchPriority } from "./fetch-queue.js";
export {
  DEFAULT_CERT_TTL_SECONDS,
  DEFAULT_MAX_CONCURRENT_FETCHES,
  DEFAULT_RETRY_BACKOFF,
  IdentityManager,
  type CertificateState,
  type CertificateStatus,
  type IdentityManagerEvents,
  type IdentityManagerOptions,
} from "./manager.js";
export { IDENTITY_CONFIG, readIdentityConfig, type IdentityConfig } from "../config.js";
