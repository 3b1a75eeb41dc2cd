// HTTP/2 PING keepalive: a PING every interval; a session whose PING stays unanswered for the
// timeout is dead (peer gone without FIN/RST, e.g. a node lost) and is destroyed so the pool
// stops handing out streams on it.
import type http2 from "node:http2";
import { weftError } from "@weft/core";
import { HBONE_PING_INTERVAL_MS, HBONE_PING_TIMEOUT_MS } from "./settings.js";

export function startKeepalive(
  session: http2.Http2Session,
  intervalMs = HBONE_PING_INTERVAL_MS,
  timeoutMs = HBONE_PING_TIMEOUT_MS,
): void {
  let outstandingSince = 0;
  const timer = setInterval(
    () => {
      if (session.destroyed || session.closed) return;
      const now = Date.now();
      if (outstandingSince !== 0) {
        if (now - outstandingSince >= timeoutMs) {
          session.destroy(
            weftError("WEFT_E_TIMEOUT", `HBONE peer did not answer PING within ${timeoutMs} ms`),
          );
        }
        return;
      }
      outstandingSince = now;
      try {
        session.ping((err) => {
          if (err === null) outstandingSince = 0;
        });
      } catch {
        outstandingSince = 0; // session is shutting down; the next tick sees it
      }
    },
    Math.min(intervalMs, timeoutMs),
  );
  timer.unref();
  session.once("close", () => clearInterval(timer));
}
