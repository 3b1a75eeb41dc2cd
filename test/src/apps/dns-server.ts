// Tiny UDP DNS responder (dual-stack): answers every A query with --a and every AAAA query with
// --aaaa, anything else with an empty NOERROR. Logs each query and who sent it.
// Usage: dns-server.js --port 53 [--a 10.0.0.1] [--aaaa fd00::1] [--ttl 30]
import { createSocket } from "node:dgram";
import { decode, encode, AUTHORITATIVE_ANSWER, type Answer } from "dns-packet";
import { announceListening, args, emit, endpoint, exitOnSigterm, requirePort } from "./common.js";

const opts = args({
  port: { type: "string", default: "53" },
  a: { type: "string", default: "192.0.2.1" },
  aaaa: { type: "string", default: "2001:db8::1" },
  ttl: { type: "string", default: "30" },
});
const socket = createSocket({ type: "udp6", ipv6Only: false });
socket.on("message", (msg, rinfo) => {
  let query;
  try {
    query = decode(msg);
  } catch (e) {
    emit({ event: "bad-query", error: (e as Error).message, from: endpoint(rinfo.address, rinfo.port) });
    return;
  }
  const answers: Answer[] = [];
  for (const q of query.questions ?? []) {
    if (q.type === "A") answers.push({ type: "A", name: q.name, ttl: Number(opts.ttl), data: opts.a });
    if (q.type === "AAAA")
      answers.push({ type: "AAAA", name: q.name, ttl: Number(opts.ttl), data: opts.aaaa });
  }
  emit({ event: "query", questions: query.questions, from: endpoint(rinfo.address, rinfo.port) });
  const reply = encode({
    type: "response",
    id: query.id ?? 0,
    flags: AUTHORITATIVE_ANSWER,
    questions: query.questions ?? [],
    answers,
  });
  socket.send(reply, rinfo.port, rinfo.address);
});
socket.bind({ port: requirePort(opts.port), address: "::" }, () =>
  announceListening("dns-server", socket.address()),
);
exitOnSigterm(() => socket.close());
