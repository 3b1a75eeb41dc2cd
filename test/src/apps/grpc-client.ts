// gRPC echo client: one unary call to /weft.test.Echo/Echo; prints {ok, reply}.
// Usage: grpc-client.js --target host:port|[v6]:port --message M [--metadata k:v]...
import { credentials, Metadata, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { args, emit, fail } from "./common.js";
import { ECHO_SERVICE, type GrpcEchoReply } from "./grpc-echo-service.js";

const opts = args({
  target: { type: "string" },
  message: { type: "string", default: "hello" },
  metadata: { type: "string", multiple: true, default: [] },
  timeout: { type: "string", default: "8000" },
});
if (opts.target === undefined) fail("--target is required");
const EchoClient = makeGenericClientConstructor(ECHO_SERVICE, "Echo");
const client = new EchoClient(opts.target, credentials.createInsecure());
const md = new Metadata();
for (const kv of opts.metadata) {
  const i = kv.indexOf(":");
  if (i <= 0) fail(`--metadata must be key:value, got ${kv}`);
  md.set(kv.slice(0, i), kv.slice(i + 1));
}
const deadline = new Date(Date.now() + Number(opts.timeout));
// makeGenericClientConstructor's methods are untyped; this is the unary call shape.
const echo = (client as unknown as Record<string, (...a: unknown[]) => void>)["echo"]!.bind(client);
echo(
  Buffer.from(JSON.stringify({ message: opts.message })),
  md,
  { deadline },
  (err: ServiceError | null, res?: Buffer) => {
    if (err) fail(err, { grpcCode: err.code });
    const reply = JSON.parse(res!.toString("utf8")) as GrpcEchoReply;
    emit({ ok: true, reply });
    client.close();
  },
);
