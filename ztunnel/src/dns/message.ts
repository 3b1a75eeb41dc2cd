// DNS message helpers of the proxy: header checks on raw bytes (so garbage is refused before any
// decoding), replies built from a query, and the UDP size limits. Pure functions.
import {
  AUTHORITATIVE_ANSWER,
  encode,
  RECURSION_AVAILABLE,
  type Answer,
  type DecodedPacket,
  type OptAnswer,
  type Packet,
} from "dns-packet";
import type { DnsRecord, DnsResolution } from "./resolve.js";

export const HEADER_LENGTH = 12;

/** RFC 1035 §4.2.1: a UDP reply without EDNS is at most 512 bytes. */
export const CLASSIC_UDP_LIMIT = 512;
/**
 * The EDNS payload size we advertise and the most we send over UDP whatever the client offers
 * (DNS flag day 2020: 1232 avoids IP fragmentation on every common path).
 */
export const EDNS_UDP_LIMIT = 1232;
/** A TCP message's 2-byte length prefix caps it here. */
export const TCP_LIMIT = 65535;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

const QR = 0x8000;
const OPCODE_MASK = 0x7800;
const TC = 0x0200;
const RD = 0x0100;
const RCODE_MASK = 0x000f;

export function messageId(message: Buffer): number {
  return message.readUInt16BE(0);
}

export function isResponse(message: Buffer): boolean {
  return (message.readUInt16BE(2) & QR) !== 0;
}

export function isTruncated(message: Buffer): boolean {
  return (message.readUInt16BE(2) & TC) !== 0;
}

export function opcodeOf(message: Buffer): number {
  return (message.readUInt16BE(2) & OPCODE_MASK) >> 11;
}

export function rcodeOf(message: Buffer): number {
  return message.readUInt16BE(2) & RCODE_MASK;
}

/**
 * A reply carrying only the header of `query` (id, opcode, RD) with `rcode` and no sections: for
 * queries we cannot or will not parse (FORMERR, NOTIMP). `query` must be at least a header long.
 */
export function headerOnlyReply(query: Buffer, rcode: Rcode): Buffer {
  const reply = Buffer.alloc(HEADER_LENGTH);
  reply.writeUInt16BE(messageId(query), 0);
  const flags = query.readUInt16BE(2);
  reply.writeUInt16BE(QR | (flags & OPCODE_MASK) | (flags & RD) | RECURSION_AVAILABLE | rcode, 2);
  return reply;
}

/** The largest reply the client accepts over UDP: its EDNS payload size (capped), else 512. */
export function udpLimitOf(query: DecodedPacket): number {
  for (const extra of query.additionals ?? []) {
    if (extra.type === "OPT") {
      return Math.min(Math.max(extra.udpPayloadSize, CLASSIC_UDP_LIMIT), EDNS_UDP_LIMIT);
    }
  }
  return CLASSIC_UDP_LIMIT;
}

// Our OPT record: no options, no DO bit (we do not sign), the payload size we accept.
const OUR_OPT: OptAnswer = {
  type: "OPT",
  name: ".",
  udpPayloadSize: EDNS_UDP_LIMIT,
  extendedRcode: 0,
  ednsVersion: 0,
  flags: 0,
  flag_do: false,
  options: [],
};

function hasEdns(query: DecodedPacket): boolean {
  return (query.additionals ?? []).some((a) => a.type === "OPT");
}

function toAnswer(record: DnsRecord): Answer {
  return record.type === "CNAME"
    ? { type: "CNAME", name: record.name, ttl: record.ttl, data: record.target }
    : { type: record.type, name: record.name, ttl: record.ttl, data: record.address };
}

/**
 * Our own (authoritative) reply to `query` for a mesh decision, or a SERVFAIL. Over UDP, a reply
 * that does not fit `limit` is sent empty with TC set, so the client retries over TCP.
 */
export function buildReply(
  query: DecodedPacket,
  resolution: Exclude<DnsResolution, { kind: "forward" }> | { kind: "servfail" },
  limit: number,
): Buffer {
  const rcode =
    resolution.kind === "nxdomain"
      ? RCODE.NXDOMAIN
      : resolution.kind === "servfail"
        ? RCODE.SERVFAIL
        : RCODE.NOERROR;
  const authoritative = resolution.kind === "servfail" ? 0 : AUTHORITATIVE_ANSWER;
  const flags = authoritative | RECURSION_AVAILABLE | (query.flag_rd ? RD : 0) | rcode;
  const packet: Packet = {
    type: "response",
    id: query.id ?? 0,
    flags,
    questions: query.questions ?? [],
    answers: resolution.kind === "answer" ? resolution.records.map(toAnswer) : [],
    additionals: hasEdns(query) ? [OUR_OPT] : [],
  };
  const reply = encode(packet);
  if (reply.length <= limit) return reply;
  return encode({ ...packet, flags: flags | TC, answers: [] });
}

/** A copy of `message` with another id (upstream exchanges use their own ids). */
export function withId(message: Buffer, id: number): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16BE(id, 0);
  return copy;
}
