export { parseSubjectAltName, spiffeIdentityOf, type PeerIdentityResult, type SanEntry } from "./san.js";
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  MESH_ALPN,
  connectMeshTls,
  createMeshSecureContext,
  createMeshTlsContext,
  createMeshTlsServer,
  spiffeServerCheck,
  verifyClientPeer,
  type MeshConnectOptions,
  type MeshCredentials,
  type MeshTlsContext,
} from "./context.js";
