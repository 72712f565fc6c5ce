/**
 * The guests' DNS listener over real sockets on 127.0.0.1 (standing in for the bridge address, with the
 * asking "VM" at 127.0.0.1): UDP and TCP with 2-byte framing, an answer truncated over UDP and complete
 * on the TCP retry (forwarded upstream over TCP), answers in order on one connection, malformed
 * messages dropped, and the listener in the DNS service's status.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket } from 'dns-packet';
import { parseAllowList } from '../../model/egress.js';
import { nullLogger } from '../../system/logger.js';
import { EgressBook } from '../network/egress-book.js';
import { DnsService } from './dns-service.js';
import { GuestDns, type GuestDnsDeps } from './guest.js';
import type { ListenAddr } from './server.js';
import { frame, unframe } from './tcp.js';

const BIG = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);

function query(name: string, id: number): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name, class: 'IN' }] });
}

/** What the stand-in upstream answers: big.test has 40 addresses (too many for 512 bytes of UDP). */
function upstreamAnswer(msg: Buffer, transport: 'udp' | 'tcp'): Buffer {
  const q = dnsPacket.decode(msg);
  const name = q.questions![0]!.name;
  const addrs = name === 'big.test' ? BIG : ['198.51.100.200'];
  const answers: Answer[] = addrs.map((data) => ({ type: 'A', name, ttl: 120, class: 'IN', data }));
  const full = dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.RECURSION_DESIRED, questions: q.questions ?? [], answers });
  if (transport === 'tcp' || full.length <= 512) return full;
  return dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.TRUNCATED_RESPONSE, questions: q.questions ?? [] });
}

function udpAsk(at: ListenAddr, bytes: Buffer, timeoutMs = 2000): Promise<DecodedPacket | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => (s.close(), resolve(undefined)), timeoutMs);
    s.on('message', (m) => (clearTimeout(t), s.close(), resolve(dnsPacket.decode(m))));
    s.send(bytes, at.port, at.host);
  });
}

/** Writes `bytes` over one TCP connection in two pieces (the length prefix split) and collects `count` answers. */
function tcpAsk(at: ListenAddr, bytes: Buffer, count: number): Promise<{ answers: DecodedPacket[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect(at.port, at.host);
    let buf: Buffer = Buffer.alloc(0);
    const answers: DecodedPacket[] = [];
    const t = setTimeout(() => (s.destroy(), reject(new Error(`only ${answers.length} of ${count} answers`))), 5000);
    const done = (closed: boolean) => (clearTimeout(t), s.destroy(), resolve({ answers, closed }));
    s.on('error', reject);
    s.on('close', () => done(true));
    s.on('data', (d) => {
      const got = unframe(Buffer.concat([buf, d]));
      buf = got.rest;
      answers.push(...got.messages.map((m) => dnsPacket.decode(m)));
      if (answers.length === count) done(false);
    });
    s.on('connect', () => {
      s.write(bytes.subarray(0, 1));
      setTimeout(() => s.write(bytes.subarray(1)), 20);
    });
  });
}

const addrsOf = (p: DecodedPacket | undefined) => (p?.answers ?? []).map((a) => (a as { data: string }).data);
const rcodeOf = (p: DecodedPacket | undefined) => (p as { rcode?: string } | undefined)?.rcode;

describe('guest dns listener', () => {
  let upUdp: UdpSocket;
  let upTcp: Server;
  let upstream: ListenAddr;
  const book = new EgressBook();
  const opened: { addrs: readonly string[]; ttl: number }[] = [];
  const deps = (): GuestDnsDeps => ({
    book,
    records: () => new Map([['one', '10.213.0.2']]),
    upstream: () => upstream,
    allowAnswered: (_id, addrs, ttl) => (opened.push({ addrs, ttl }), Promise.resolve()),
  });
  const dns = new GuestDns(deps());
  let at: ListenAddr;

  before(async () => {
    upUdp = createSocket('udp4');
    upUdp.on('message', (m, r) => upUdp.send(upstreamAnswer(m, 'udp'), r.port, r.address));
    await new Promise<void>((r) => upUdp.bind(0, '127.0.0.1', r));
    upstream = { host: '127.0.0.1', port: upUdp.address().port };
    upTcp = createServer((s) => {
      let buf: Buffer = Buffer.alloc(0);
      s.on('data', (d) => {
        const got = unframe(Buffer.concat([buf, d]));
        buf = got.rest;
        for (const m of got.messages) s.write(frame(upstreamAnswer(m, 'tcp')));
      });
    });
    await new Promise<void>((r) => upTcp.listen(upstream.port, upstream.host, r));
    book.set({ vmId: 'v1', vmName: 'one', key: 'v1', ip: '127.0.0.1', nat: false, allow: parseAllowList(['big.test,small.test']) });
    at = await dns.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await dns.close();
    upUdp.close();
    await new Promise<void>((r) => upTcp.close(() => r()));
  });

  it('an answer too large for UDP comes back truncated; the retry over TCP gets all of it and opens its addresses', async () => {
    const udp = await udpAsk(at, query('big.test', 11));
    assert.equal(udp?.flag_tc, true, 'TC set over UDP');
    assert.deepEqual(addrsOf(udp), []);
    assert.deepEqual(opened, [], 'nothing opened for an answer without addresses');
    const { answers } = await tcpAsk(at, frame(query('big.test', 12)), 1);
    assert.equal(answers[0]?.id, 12);
    assert.equal(answers[0]?.flag_tc, false);
    assert.deepEqual(addrsOf(answers[0]), BIG);
    assert.deepEqual(opened, [{ addrs: BIG, ttl: 120 }], 'the addresses of the TCP answer are opened for its TTL');
    assert.equal(book.get('v1')?.allowed.get('big.test')?.count, 2);
  });

  it('answers several framed queries on one connection in order: forwarded, zone, refused', async () => {
    const { answers, closed } = await tcpAsk(at, Buffer.concat([frame(query('small.test', 1)), frame(query('one.vm', 2)), frame(query('other.test', 3))]), 3);
    assert.equal(closed, false);
    assert.deepEqual(answers.map((a) => a.id), [1, 2, 3]);
    assert.deepEqual(addrsOf(answers[0]), ['198.51.100.200']);
    assert.deepEqual(addrsOf(answers[1]), ['10.213.0.2']);
    assert.equal(rcodeOf(answers[2]), 'REFUSED');
    assert.equal(book.get('v1')?.denied.get('other.test')?.count, 1, 'a name refused over TCP is recorded too');
  });

  it('a malformed message over TCP closes that connection only; UDP and TCP keep answering', async () => {
    const bad = await tcpAsk(at, frame(Buffer.from('not dns at all')), 1).catch((e: unknown) => e);
    assert.deepEqual(bad, { answers: [], closed: true });
    assert.deepEqual(addrsOf(await udpAsk(at, query('one.vm', 5))), ['10.213.0.2']);
    assert.deepEqual(addrsOf((await tcpAsk(at, frame(query('one.vm', 6)), 1)).answers[0]), ['10.213.0.2']);
  });

  it('the DNS service reports the guest listener in its status, and a bind failure with its error', async () => {
    const repo = { list: () => [], changeStamp: () => '0' };
    const svc = new DnsService(repo, '127.0.0.1:0', nullLogger);
    await svc.start();
    await svc.startGuest(deps(), { host: '127.0.0.1', port: 0 });
    const st = await svc.status();
    assert.match(st.guest?.addr ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(st.guest?.answers, true);
    assert.equal(svc.guestAddr(), st.guest?.addr);
    const taken = new DnsService(repo, '', nullLogger);
    await assert.rejects(taken.startGuest(deps(), at));
    const down = await taken.status();
    assert.equal(down.guest?.addr, undefined);
    assert.equal(down.guest?.answers, false);
    assert.match(down.guest?.error ?? '', new RegExp(`cannot listen on 127\\.0\\.0\\.1:${at.port}`));
    await svc.stop();
    await taken.stop();
    assert.equal(svc.guestAddr(), undefined);
  });
});
