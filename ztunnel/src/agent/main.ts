// `weft-agent`: the node agent process (redirection + enrol API). SIGTERM/SIGINT stop serving and
// exit 0, leaving the pins: pods stay captured, fail closed, until the next agent re-adopts them.
// Until ztunnel's data path is wired in, captured connections are refused (FAIL_CLOSED_HANDLERS).
import { createLogger, onSignal } from "@weft/core";
import { readAgentConfig } from "../config.js";
import { startAgent } from "./agent.js";

const config = readAgentConfig();
const logger = createLogger({ name: "weft-agent", level: config.logLevel });
try {
  const agent = await startAgent({ config, logger });
  onSignal(["SIGTERM", "SIGINT"], (signal) => {
    logger.info({ signal }, "stopping; pins stay in place so pods remain captured");
    agent.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "stop failed");
        process.exit(1);
      },
    );
  });
} catch (err) {
  logger.fatal({ err }, "agent failed to start");
  process.exitCode = 1;
}
