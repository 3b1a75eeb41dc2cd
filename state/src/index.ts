export type * from "./types.js";
export {
  canonicalIp,
  ipFamily,
  formatSocketAddress,
  networkAddressKey,
  parseCidr,
  CidrSet,
  type Cidr,
} from "./ip.js";
export {
  parseIdentity,
  formatIdentity,
  workloadIdentity,
  workloadPrincipal,
  type Identity,
} from "./identity.js";
export {
  stringMatch,
  stringMatches,
  authorizationMatches,
  compileAuthorization,
  type CompiledAuthorization,
  type RbacConnection,
} from "./rbac.js";
export { serviceKey, policyKey, resourceKey, validateResource, type Validated } from "./validate.js";
export {
  Snapshot,
  StateStore,
  applyDelta,
  emptySnapshot,
  DEFAULT_STORE_OPTIONS,
  type ApplyError,
  type ApplyResult,
  type Delta,
  type Endpoint,
  type SnapshotListener,
  type StoreOptions,
} from "./store.js";
export {
  selectEndpoint,
  localityRank,
  targetPortFor,
  pickAddress,
  type EndpointSelection,
  type EndpointSelectionInput,
} from "./decisions/endpoints.js";
export {
  buildRequest,
  resolveWaypoint,
  isWaypoint,
  HBONE_PORT,
  type OutboundDecision,
  type OutboundDenyReason,
  type OutboundFacts,
} from "./decisions/outbound.js";
export {
  authorizeInbound,
  applicableAuthorizations,
  forEachApplicableAuthorization,
  checkPeerAuthentication,
  effectivePeerAuthentication,
  DEFAULT_PEER_AUTHENTICATION_MODE,
  type AuthorizationOutcome,
  type EffectivePeerAuthenticationMode,
  type InboundConnection,
  type InboundDecision,
  type InboundReason,
  type PeerAuthenticationDecision,
} from "./decisions/inbound.js";
export * from "./xds/index.js";
