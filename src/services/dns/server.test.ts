/** The DNS listener on 127.0.0.1: UDP, TCP with 2-byte length framing, malformed packets dropped, bind failures reported. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { nullLogger } from '../../system/logger.js';
import { DnsService } from './dns-service.js';
import { DnsListener, parseListenAddr, type ListenAddr } from './server.js';

const records = new Map([['alpha', '127.77.1.2']]);

function udpAsk(at: ListenAddr, bytes: Buffer, timeoutMs = 1000): Promise<DecodedPacket | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => (s.close(), resolve(undefined)), timeoutMs);
    s.on('message', (m) => (clearTimeout(t), s.close(), resolve(dnsPacket.decode(m))));
    s.send(bytes, at.port, at.host);
  });
}

function q(name: string, id = 7): Buffer {
  return dnsPacket.encode({ type: 'query', id, questions: [{ name, type: 'A', class: 'IN' }] });
}

function framed(...msgs: Buffer[]): Buffer {
  return Buffer.concat(msgs.flatMap((m) => [Buffer.from([m.length >> 8, m.length & 0xff]), m]));
}

/** Sends bytes over TCP (in two pieces, to exercise reassembly) and collects `count` framed answers. */
function tcpAsk(at: ListenAddr, bytes: Buffer, count: number): Promise<DecodedPacket[]> {
  return new Promise((resolve, reject) => {
    const s = connect(at.port, at.host);
    let buf = Buffer.alloc(0);
    const out: DecodedPacket[] = [];
    s.on('error', reject);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === count) {
        s.end();
        resolve(out);
      }
    });
    s.on('connect', () => {
      s.write(bytes.subarray(0, 3));
      setTimeout(() => s.write(bytes.subarray(3)), 20);
    });
  });
}

describe('dns listener', () => {
  const listener = new DnsListener(() => records);
  let at: ListenAddr;
  before(async () => {
    at = await listener.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => listener.close());

  it('answers over UDP', async () => {
    const r = await udpAsk(at, q('alpha.vm'));
    assert.equal(r?.answers?.[0]?.type === 'A' && r.answers[0].data, '127.77.1.2');
  });

  it('answers several framed queries on one TCP connection, in order', async () => {
    const rs = await tcpAsk(at, framed(q('alpha.vm', 1), q('nope.vm', 2)), 2);
    assert.deepEqual(rs.map((r) => r.id), [1, 2]);
    assert.equal(rs[0]?.answers?.length, 1);
    assert.equal((rs[1] as { rcode?: string }).rcode, 'NXDOMAIN');
  });

  it('drops malformed UDP packets and keeps answering', async () => {
    assert.equal(await udpAsk(at, Buffer.from('not dns at all'), 300), undefined);
    assert.ok(await udpAsk(at, q('alpha.vm')));
  });

  it('parses listen addresses', () => {
    assert.deepEqual(parseListenAddr('127.0.0.1:42069'), { host: '127.0.0.1', port: 42069 });
    assert.equal(parseListenAddr(''), undefined);
    assert.equal(parseListenAddr('127.0.0.1:70000'), undefined);
  });

  it('a service whose address is taken reports the bind error and does not throw', async () => {
    const repo = { list: () => [], changeStamp: () => '0' };
    const svc = new DnsService(repo, `127.0.0.1:${at.port}`, nullLogger);
    await svc.start();
    const st = await svc.status();
    assert.equal(st.addr, undefined);
    assert.equal(st.answers, false);
    assert.match(st.error ?? '', /cannot listen on 127\.0\.0\.1:\d+/);
    await svc.stop();
  });
});
