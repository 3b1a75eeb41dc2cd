// The node agent: Redirector + enrol API on a unix socket (the CNI plugin's other end).
export { resolveCgroup, startAgent, type Agent, type AgentOptions } from "./agent.js";
export { serveApi, type ApiServer, type EnrolService } from "./api.js";
export { AgentClient, AgentError, AgentUnreachable, type AgentResponse } from "./client.js";
export {
  ERROR_STATUS,
  MAX_BODY_BYTES,
  statusOf,
  type ApiErrorBody,
  type EnrollRequest,
  type UnenrollRequest,
} from "./protocol.js";
