/**
 * DNS over TCP (RFC 1035 4.2.2, RFC 7766): each message preceded by its 2-byte length, several per
 * connection, answered in order. Used by the host listener and the guest listener alike; the answer
 * function may be synchronous (the zone) or not (forwarding upstream).
 *
 * @module
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ListenAddr } from './server.js';

/** At most this many TCP clients at once, each closed after this long idle (RFC 7766 suggests seconds). */
const MAX_TCP_CLIENTS = 64;
const TCP_IDLE_MS = 10_000;
/** A TCP message is at most 64 KiB; a client that sends more than this unanswered is cut off. */
const MAX_TCP_BUFFER = 2 * 65_537;

/** The reply to a message from `from` (the client's address), or undefined to drop it (and the connection). */
export type TcpAnswer = (msg: Buffer, from: string) => Buffer | undefined | Promise<Buffer | undefined>;

/** A message with its 2-byte length in front. */
export function frame(msg: Buffer): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(msg.length);
  return Buffer.concat([head, msg]);
}

/** Splits complete framed messages off the front of `buf`; returns them and the incomplete rest. */
export function unframe(buf: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let rest = buf;
  while (rest.length >= 2) {
    const len = rest.readUInt16BE(0);
    if (rest.length < 2 + len) break;
    messages.push(rest.subarray(2, 2 + len));
    rest = rest.subarray(2 + len);
  }
  return { messages, rest };
}

export class DnsTcpServer {
  private server: Server | undefined;
  private readonly clients = new Set<Socket>();

  constructor(private readonly answer: TcpAnswer) {}

  /** Listens on host:port (port already chosen: the UDP socket's); rejects when it cannot bind. */
  async listen(at: ListenAddr): Promise<void> {
    const server = createServer((s) => this.serve(s));
    server.maxConnections = MAX_TCP_CLIENTS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: at.host, port: at.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    this.server = server;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private serve(s: Socket): void {
    this.clients.add(s);
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on('close', () => this.clients.delete(s));
    s.on('error', () => s.destroy());
    const from = s.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    let buf: Buffer = Buffer.alloc(0);
    // Answers that are not ready at once (forwarded queries) keep their order through this chain.
    let pending: Promise<void> | undefined;
    const send = (reply: Buffer | undefined) => {
      if (!reply) s.destroy();
      else if (!s.destroyed) s.write(frame(reply));
    };
    const answer = (msg: Buffer): Buffer | undefined | Promise<Buffer | undefined> => {
      try {
        const r = this.answer(msg, from);
        return r instanceof Promise ? r.catch(() => undefined) : r;
      } catch {
        return undefined;
      }
    };
    s.on('data', (chunk: Buffer) => {
      const got = unframe(buf.length === 0 ? chunk : Buffer.concat([buf, chunk]));
      buf = got.rest;
      for (const msg of got.messages) {
        if (pending) {
          pending = pending.then(async () => send(await answer(msg)));
          continue;
        }
        const reply = answer(msg);
        if (reply instanceof Promise) pending = reply.then(send);
        else send(reply);
      }
      if (buf.length > MAX_TCP_BUFFER) s.destroy();
    });
  }
}

/** Sends one query over TCP and returns the answer (or undefined on failure or timeout). */
export function askTcp(query: Buffer, at: ListenAddr, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = connect(at.port, at.host);
    let buf: Buffer = Buffer.alloc(0);
    const done = (v: Buffer | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.on('error', () => done(undefined));
    s.on('close', () => done(undefined));
    s.on('connect', () => s.write(frame(query)));
    s.on('data', (chunk: Buffer) => {
      const got = unframe(Buffer.concat([buf, chunk]));
      buf = got.rest;
      const reply = got.messages.find((m) => m.length >= 2 && m.readUInt16BE(0) === query.readUInt16BE(0));
      if (reply) done(Buffer.from(reply));
    });
  });
}
