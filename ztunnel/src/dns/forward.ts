// One query to one upstream server, over UDP or TCP, from ztunnel's own process: its sockets are in
// the node netns and in no pod cgroup, so DNS capture never sees them (DESIGN §4) and a forwarded
// query cannot loop back into the proxy.
//
// Each exchange uses a fresh socket (a random source port) and a random id, as Istio's forwarder
// does: together they make a spoofed reply a ~2^-32 guess (RFC 5452), which one shared socket
// multiplexing 16-bit ids would not.
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import { HEADER_LENGTH, isResponse, messageId, withId } from "./message.js";
import type { Upstream } from "./upstream.js";

/** Sockets of exchanges in flight, so the proxy's close() can end them. */
export type OpenSockets = Set<dgram.Socket | net.Socket>;

function upstreamName(upstream: Upstream): string {
  return net.isIPv6(upstream.address)
    ? `[${upstream.address}]:${upstream.port}`
    : `${upstream.address}:${upstream.port}`;
}

/**
 * Send `query` (its id is replaced by a random one) and resolve with the reply, which carries the
 * random id: the caller restores its client's id. Rejects on timeout or a socket error.
 */
export function exchangeUdp(
  query: Buffer,
  upstream: Upstream,
  timeoutMs: number,
  open: OpenSockets,
): Promise<Buffer> {
  const id = randomInt(0, 65536);
  const message = withId(query, id);
  const socket = dgram.createSocket(net.isIPv6(upstream.address) ? "udp6" : "udp4");
  open.add(socket);
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, reply?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      open.delete(socket);
      try {
        socket.close();
      } catch {
        // already closed (by the proxy's close(), which is how we got here)
      }
      if (err !== undefined) reject(err);
      else resolve(reply as Buffer);
    };
    const timer = setTimeout(
      () => finish(new Error(`no reply from ${upstreamName(upstream)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("error", (err) => finish(err));
    socket.on("close", () => finish(new Error(`exchange with ${upstreamName(upstream)} was closed`)));
    socket.on("message", (reply, from) => {
      // Only the server asked, answering this id, counts; anything else is ignored (not fatal).
      if (from.port !== upstream.port || from.address !== upstream.address) return;
      if (reply.length < HEADER_LENGTH || messageId(reply) !== id || !isResponse(reply)) return;
      finish(undefined, reply);
    });
    socket.send(message, upstream.port, upstream.address);
  });
}

/** The same over TCP (RFC 7766): one length-prefixed query, one length-prefixed reply. */
export function exchangeTcp(
  query: Buffer,
  upstream: Upstream,
  timeoutMs: number,
  open: OpenSockets,
): Promise<Buffer> {
  const id = randomInt(0, 65536);
  const framed = Buffer.allocUnsafe(2 + query.length);
  framed.writeUInt16BE(query.length, 0);
  query.copy(framed, 2);
  framed.writeUInt16BE(id, 2);
  const socket = net.connect({ host: upstream.address, port: upstream.port });
  open.add(socket);
  return new Promise<Buffer>((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | undefined, reply?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      open.delete(socket);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(reply as Buffer);
    };
    const timer = setTimeout(
      () => finish(new Error(`no TCP reply from ${upstreamName(upstream)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.setNoDelay(true);
    socket.on("error", (err) => finish(err));
    socket.on("close", () => finish(new Error(`${upstreamName(upstream)} closed the TCP connection`)));
    socket.on("data", (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const length = received.readUInt16BE(0);
      if (received.length < 2 + length) return;
      const reply = received.subarray(2, 2 + length);
      if (reply.length < HEADER_LENGTH || messageId(reply) !== id || !isResponse(reply)) {
        finish(new Error(`${upstreamName(upstream)} sent a TCP reply that is not ours`));
        return;
      }
      finish(undefined, reply);
    });
    socket.write(framed);
  });
}
