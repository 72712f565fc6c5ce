/**
 * The daemon's DNS listener for the `vm` zone: UDP and TCP (2-byte length framing) on one address,
 * each query answered by zone.ts from the current records. A listener that cannot bind is reported in
 * status() and the daemon keeps serving without it. Malformed packets are dropped.
 *
 * @module
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { ResponseCache } from './cache.js';
import type { ZoneRecords } from './zone.js';

/** At most this many TCP clients at once, each closed after this long idle (RFC 7766 suggests seconds). */
const MAX_TCP_CLIENTS = 64;
const TCP_IDLE_MS = 10_000;
/** A TCP message is at most 64 KiB; a client that sends more than this unanswered is cut off. */
const MAX_TCP_BUFFER = 2 * 65_537;

export interface ListenAddr {
  host: string;
  port: number;
}

/** `host:port` as in config (`127.0.0.1:42069`); empty means off. */
export function parseListenAddr(text: string): ListenAddr | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[2]) > 65535) return undefined;
  return { host: m[1]!, port: Number(m[2]) };
}

export class DnsListener {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly clients = new Set<Socket>();
  private readonly cache = new ResponseCache();

  constructor(private readonly records: () => ZoneRecords) {}

  /** The bound address (its port resolved when 0 was asked for), once listening. */
  address(): ListenAddr | undefined {
    const a = this.udp?.address();
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /** Binds UDP, then TCP on the same port; rejects (and holds nothing) when either cannot bind. */
  async listen(at: ListenAddr): Promise<ListenAddr> {
    const udp = createSocket({ type: 'udp4' });
    udp.on('message', (msg, rinfo) => {
      const reply = this.answer(msg, 'udp');
      if (reply) udp.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(at.port, at.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', () => undefined);
    const port = udp.address().port;
    const tcp = createServer((s) => this.serveTcp(s));
    tcp.maxConnections = MAX_TCP_CLIENTS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: at.host, port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    tcp.on('error', () => undefined);
    this.udp = udp;
    this.tcp = tcp;
    return { host: at.host, port };
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  private answer(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    try {
      return this.cache.respond(msg, this.records(), transport);
    } catch {
      return undefined;
    }
  }

  private serveTcp(s: Socket): void {
    this.clients.add(s);
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on('close', () => this.clients.delete(s));
    s.on('error', () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const reply = this.answer(msg, 'tcp');
        if (!reply) {
          s.destroy();
          return;
        }
        const head = Buffer.alloc(2);
        head.writeUInt16BE(reply.length);
        s.write(Buffer.concat([head, reply]));
      }
      if (buf.length > MAX_TCP_BUFFER) s.destroy();
    });
  }
}
