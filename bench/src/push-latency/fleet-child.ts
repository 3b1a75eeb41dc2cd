// Child process holding a LocalFleet for RemoteFleet (see fleet-remote.ts). Exits when told to
// close or when the parent goes away (IPC disconnect), so it never outlives a benchmark.
import { epochNow, LocalFleet, usageNow, type FleetOptions } from "./fleet.js";
import type { FleetReply, FleetRequest } from "./fleet-remote.js";

const opts = JSON.parse(process.argv[2] ?? "{}") as FleetOptions;
const fleet = new LocalFleet(opts);

function reply(m: FleetReply): void {
  process.send?.(m);
}

async function handle(req: FleetRequest): Promise<unknown> {
  const [a, b] = req.args;
  switch (req.method) {
    case "start":
      return fleet.start(a as number);
    case "waitSynced":
      return fleet.waitSynced(a as number);
    case "expect":
      return fleet.expect(a as number, b as Parameters<LocalFleet["expect"]>[1]);
    case "waitObserved":
      return fleet.waitObserved(a as number, b as number);
    case "now":
      return epochNow();
    case "usage":
      return usageNow();
    case "close":
      await fleet.close();
      setImmediate(() => process.exit(0));
      return undefined;
  }
}

process.on("message", (req: FleetRequest) => {
  handle(req).then(
    (result) => reply({ id: req.id, ok: true, result: result ?? null }),
    (err: unknown) =>
      reply({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on("disconnect", () => process.exit(0));
