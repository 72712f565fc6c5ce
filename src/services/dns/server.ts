/**
 * The daemon's DNS listener for the `vm` zone: UDP and TCP (2-byte length framing) on one address,
 * each query answered by zone.ts from the current records. A listener that cannot bind is reported in
 * status() and the daemon keeps serving without it. Malformed packets are dropped.
 *
 * @module
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { ResponseCache } from './cache.js';
import { DnsTcpServer } from './tcp.js';
import type { ZoneRecords } from './zone.js';

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
  private tcp: DnsTcpServer | undefined;
  private readonly cache = new ResponseCache();

  constructor(private readonly records: () => ZoneRecords) {}

  /** The bound address (its port resolved when 0 was asked for), once listening. */
  address(): ListenAddr | undefined {
    const a = this.udp?.address();
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /**
   * Binds UDP, then TCP on the same port; rejects (and holds nothing) when either cannot bind. For
   * port 0 the port UDP got may be taken for TCP: another free port is tried then.
   */
  async listen(at: ListenAddr): Promise<ListenAddr> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listenOnce(at);
      } catch (err) {
        if (at.port !== 0 || attempt >= 8 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  private async listenOnce(at: ListenAddr): Promise<ListenAddr> {
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
    const tcp = new DnsTcpServer((msg) => this.answer(msg, 'tcp'));
    try {
      await tcp.listen({ host: at.host, port });
    } catch (err) {
      udp.close();
      throw err;
    }
    this.udp = udp;
    this.tcp = tcp;
    return { host: at.host, port };
  }

  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([udp ? new Promise<void>((r) => udp.close(() => r())) : undefined, tcp?.close()]);
  }

  private answer(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    try {
      return this.cache.respond(msg, this.records(), transport);
    } catch {
      return undefined;
    }
  }
}
