// Public surface of the CA library. The gRPC service and the controller wiring build on these.
export { authorizeCertificateRequest } from "./authz.js";
export type { AuthorizeDecision, AuthorizeInput, Caller, PodFacts } from "./authz.js";
export { CertificateAuthority } from "./ca.js";
export type {
  CaEvent,
  CertificateAuthorityOptions,
  CreateCertificateRequest,
  CreateCertificateResponse,
} from "./ca.js";
export {
  CertificateParseError,
  certificateSans,
  describeCert,
  fingerprint,
  isCa,
  parseCertificates,
  pemBlocks,
  sanEntries,
  uriSans,
} from "./certs.js";
export type { SanEntry, SanType } from "./certs.js";
export { failureReasonOf } from "./errors.js";
export type { CaErrorCode, CaFailureReason } from "./errors.js";
export { EC_P256, generateKeyPair, exportPrivateKeyPem } from "./keys.js";
export type { SigningKey } from "./keys.js";
export { CA_FILES, generateRoot, issueIntermediate, loadOrCreateRoot, loadRoot } from "./root.js";
export type {
  GenerateRootOptions,
  GeneratedCa,
  IssueIntermediateOptions,
  LoadOrCreateOptions,
  LoadRootInput,
  SigningAuthority,
} from "./root.js";
export {
  CLOCK_SKEW_MS,
  DEFAULT_MAX_TTL_SECONDS,
  DEFAULT_TTL_SECONDS,
  checkCsrSans,
  effectiveTtlSeconds,
  issueServingCertificate,
  parseCsr,
  signCsr,
} from "./sign.js";
export type {
  ServingCertificate,
  ServingCertificateRequest,
  SignCsrRequest,
  SignedCertificate,
} from "./sign.js";
export { formatSpiffeId, parseSpiffeId } from "./spiffe.js";
export type { WorkloadIdentity } from "./spiffe.js";
export {
  authenticateBearer,
  buildTokenTable,
  hashToken,
  loadTokenFile,
  parseTokenFile,
  tokenTableAuthenticator,
} from "./tokens.js";
export type { AuthenticationResult, Authenticator, PlainToken, TokenEntry, TokenTable } from "./tokens.js";
export { TrustBundle } from "./trust-bundle.js";
export type { ChainVerdict } from "./trust-bundle.js";
export { x509 } from "./x509.js";
export { IMPERSONATED_IDENTITY_KEY, caGrpcHandlers, grpcStatusOf } from "./grpc.js";
