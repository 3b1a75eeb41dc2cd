export { addCaService, caServiceHandlers, requestProblem, type CaServiceOptions } from "./service.js";
export { TlsServerCredentials, type TlsMaterial } from "./serving.js";
