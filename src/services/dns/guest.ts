/**
 * The DNS server guests use in bridge mode, on the bridge address (UDP and TCP, port 53): `<name>.vm` from the zone,
 * other names forwarded to the upstream resolver only for a VM whose egress allows them (`--nat`
 * without allowlist: every name; an allowlist: its names and wildcards). The addresses an allowed
 * answer carries are added to that VM's nftables set for the answer's TTL before the answer is sent,
 * so the guest's first connection already passes. Every refused query is recorded for `vm egress`.
 * A query is forwarded over the transport it came on: an answer too large for UDP comes back truncated,
 * and the guest's retry over TCP is forwarded over TCP and gets all of it.
 *
 * @module
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { nameAllowed } from '../../model/egress.js';
import type { EgressBook, EgressEntry } from '../network/egress-book.js';
import { askTcp, DnsTcpServer } from './tcp.js';
import { respond, ZONE, type Transport, type ZoneRecords } from './zone.js';
import { parseListenAddr, type ListenAddr } from './server.js';

const UPSTREAM_TIMEOUT_MS = 3000;
const REFUSED = 5;

export interface GuestDnsDeps {
  book: EgressBook;
  records: () => ZoneRecords;
  upstream: () => ListenAddr | undefined;
  /** Called with the addresses of an allowed answer before it is sent. */
  allowAnswered: (vmId: string, addrs: readonly string[], ttl: number) => Promise<void>;
}

function decode(bytes: Buffer): DecodedPacket | undefined {
  try {
    return dnsPacket.decode(bytes);
  } catch {
    return undefined;
  }
}

function inZone(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  return n === ZONE || n.endsWith(`.${ZONE}`);
}

/** A REFUSED response to a query. */
function refusal(q: DecodedPacket): Buffer {
  return dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: REFUSED | (q.flag_rd ? dnsPacket.RECURSION_DESIRED : 0), questions: q.questions ?? [] });
}

/** Sends one query to the upstream resolver and returns its answer (or undefined on timeout). */
export function askUpstream(bytes: Buffer, at: ListenAddr, timeoutMs = UPSTREAM_TIMEOUT_MS): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (v: Buffer | undefined) => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.on('error', () => done(undefined));
    s.on('message', (msg) => {
      if (msg.length >= 2 && msg.readUInt16BE(0) === bytes.readUInt16BE(0)) done(msg);
    });
    s.send(bytes, at.port, at.host);
  });
}

/** The upstream resolver: dns_upstream when set, else the first IPv4 nameserver of resolv.conf (port 53). */
export function upstreamFrom(configured: string, resolvConf = '/etc/resolv.conf'): ListenAddr | undefined {
  if (configured !== '') return parseListenAddr(configured);
  try {
    const m = /^\s*nameserver\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$/m.exec(readFileSync(resolvConf, 'utf8'));
    return m ? { host: m[1]!, port: 53 } : undefined;
  } catch {
    return undefined;
  }
}

/** What the guest DNS decides for one query from a VM (pure: no I/O). */
export function decide(entry: EgressEntry | undefined, qname: string): 'zone' | 'forward' | 'refuse' {
  if (inZone(qname)) return 'zone';
  if (!entry) return 'refuse';
  if (entry.allow === undefined) return entry.nat ? 'forward' : 'refuse';
  return nameAllowed(entry.allow, qname) ? 'forward' : 'refuse';
}

export class GuestDns {
  private udp: UdpSocket | undefined;
  private tcp: DnsTcpServer | undefined;

  constructor(private readonly deps: GuestDnsDeps) {}

  /** Binds UDP, then TCP on the same port; rejects (and holds nothing) when either cannot bind. */
  async listen(at: ListenAddr): Promise<ListenAddr> {
    const udp = createSocket({ type: 'udp4' });
    udp.on('message', (msg, rinfo) => {
      void this.answer(msg, rinfo.address).then(
        (reply) => {
          if (reply) udp.send(reply, rinfo.port, rinfo.address);
        },
        () => undefined,
      );
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
    const tcp = new DnsTcpServer((msg, from) => this.answer(msg, from, 'tcp'));
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

  address(): ListenAddr | undefined {
    const a = this.udp?.address();
    return a ? { host: a.address, port: a.port } : undefined;
  }

  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([udp ? new Promise<void>((r) => udp.close(() => r())) : undefined, tcp?.close()]);
  }

  /** The reply to a query from `from` that came over `transport`, or undefined to drop it. */
  async answer(msg: Buffer, from: string, transport: Transport = 'udp'): Promise<Buffer | undefined> {
    const q = decode(msg);
    if (!q || q.type !== 'query') return undefined;
    const name = q.questions?.[0]?.name;
    if (name === undefined) return respond(msg, this.deps.records(), transport);
    const entry = this.deps.book.byAddress(from);
    const verdict = decide(entry, name);
    if (verdict === 'zone') return respond(msg, this.deps.records(), transport);
    if (verdict === 'refuse') {
      if (entry) this.deps.book.note(entry, 'denied', name);
      return refusal(q);
    }
    const upstream = this.deps.upstream();
    if (!upstream) return refusal(q);
    const reply = transport === 'tcp' ? await askTcp(msg, upstream, UPSTREAM_TIMEOUT_MS) : await askUpstream(msg, upstream);
    if (!reply) return undefined;
    const r = decode(reply);
    const a = (r?.answers ?? []).filter((x) => x.type === 'A') as { data: string; ttl?: number }[];
    const addrs = a.map((x) => x.data);
    if (entry!.allow !== undefined && addrs.length > 0) {
      const ttl = Math.min(...a.map((x) => x.ttl ?? 60));
      await this.deps.allowAnswered(entry!.vmId, addrs, ttl);
    }
    this.deps.book.note(entry!, 'allowed', name, addrs);
    return reply;
  }
}
