export { connectHboneSession, hboneConnect, type HboneConnectOptions } from "./client.js";
export {
  HboneServer,
  createHboneServer,
  type HboneRejectStatus,
  type HboneServerOptions,
  type HboneServerStats,
  type InboundTunnelEvent,
  type InboundTunnelFacts,
  type Verdict,
} from "./server.js";
export { resetStream, spliceTunnel, type TunnelResult } from "./pipe.js";
export { startKeepalive } from "./keepalive.js";
export {
  forwardedFor,
  formatAuthority,
  parseAuthority,
  parseForwardedFor,
  type SocketTarget,
} from "./headers.js";
export * from "./settings.js";
