/** The vm zone with real packets: queries encoded by dns-packet, responses compared by equality after decoding. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet, Question } from 'dns-packet';
import { respond, RECORD_TTL, UDP_LIMIT } from './zone.js';

const RECORDS = new Map([['alpha', '127.77.1.2'], ['beta', '127.77.3.4']]);
const SOA = {
  type: 'SOA',
  name: 'vm',
  ttl: RECORD_TTL,
  class: 'IN',
  flush: false,
  data: { mname: 'ns.vm', rname: 'hostmaster.vm', serial: 1, refresh: 60, retry: 60, expire: 300, minimum: RECORD_TTL },
};

/** dns-packet decodes the rcode too, which its types leave out. */
function decode(bytes: Buffer): DecodedPacket & { rcode: string } {
  return dnsPacket.decode(bytes) as DecodedPacket & { rcode: string };
}

function query(questions: Question[], extra: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions, ...extra });
}

function ask(name: string, type: Question['type'] = 'A', transport: 'udp' | 'tcp' = 'udp') {
  const out = respond(query([{ name, type, class: 'IN' }]), RECORDS, transport);
  assert.ok(out, 'a response');
  return decode(out);
}

describe('vm zone', () => {
  it('answers A for a running VM, authoritative, echoing id, question and RD', () => {
    const r = ask('alpha.vm');
    assert.equal(r.id, 4242);
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual([r.flag_qr, r.flag_aa, r.flag_rd, r.flag_ra, r.flag_tc], [true, true, true, false, false]);
    assert.deepEqual(r.questions, [{ name: 'alpha.vm', type: 'A', class: 'IN' }]);
    assert.deepEqual(r.answers, [{ name: 'alpha.vm', type: 'A', ttl: RECORD_TTL, class: 'IN', flush: false, data: '127.77.1.2' }]);
  });

  it('matches names without regard to case, and with a trailing dot', () => {
    const r = ask('AlPhA.Vm.');
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers?.[0]?.type === 'A' && r.answers[0].data, '127.77.1.2');
  });

  it('answers AAAA (and other types) for a known name with NOERROR, no answers and the SOA', () => {
    for (const type of ['AAAA', 'MX', 'TXT'] as const) {
      const r = ask('beta.vm', type);
      assert.equal(r.rcode, 'NOERROR', type);
      assert.deepEqual(r.answers, []);
      assert.deepEqual(r.authorities, [SOA]);
    }
  });

  it('answers NXDOMAIN with the SOA for an unknown name and a name under a VM name', () => {
    for (const name of ['gamma.vm', 'x.alpha.vm']) {
      const r = ask(name);
      assert.equal(r.rcode, 'NXDOMAIN', name);
      assert.equal(r.flag_aa, true);
      assert.deepEqual(r.authorities, [SOA]);
    }
  });

  it('answers the zone apex: SOA, and NOERROR without answers for other types', () => {
    assert.deepEqual(ask('vm', 'SOA').answers, [SOA]);
    const ns = ask('vm', 'NS');
    assert.deepEqual([ns.rcode, ns.answers, ns.authorities], ['NOERROR', [], [SOA]]);
  });

  it('refuses names outside .vm, without answers or authority', () => {
    for (const name of ['example.com', 'vm.example.com', 'alphavm']) {
      const r = ask(name);
      assert.equal(r.rcode, 'REFUSED', name);
      assert.deepEqual([r.flag_aa, r.answers, r.authorities], [false, [], []]);
    }
  });

  it('drops malformed bytes and responses without throwing', () => {
    for (const bytes of [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(12, 0xff), query([{ name: 'alpha.vm', type: 'A' }]).subarray(0, 20)]) {
      assert.equal(respond(bytes, RECORDS, 'udp'), undefined);
    }
    const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'alpha.vm', type: 'A' }] });
    assert.equal(respond(response, RECORDS, 'udp'), undefined, 'a response is not answered (no reflection loops)');
  });

  it('sets TC over UDP when the answer exceeds 512 bytes, and answers in full over TCP', () => {
    const many = Array.from({ length: 20 }, () => ({ name: 'alpha.vm', type: 'A' as const, class: 'IN' as const }));
    const udp = respond(query(many), RECORDS, 'udp')!;
    const u = decode(udp);
    assert.ok(udp.length <= UDP_LIMIT);
    assert.deepEqual([u.flag_tc, u.answers?.length, u.questions?.length], [true, 0, 20]);
    const tcp = decode(respond(query(many), RECORDS, 'tcp')!);
    assert.deepEqual([tcp.flag_tc, tcp.answers?.length], [false, 20]);
    const small = decode(respond(query(many.slice(0, 2)), RECORDS, 'udp')!);
    assert.deepEqual([small.flag_tc, small.answers?.length], [false, 2]);
  });

  it('echoes EDNS and allows a larger UDP answer to an EDNS client', () => {
    const many = Array.from({ length: 20 }, () => ({ name: 'alpha.vm', type: 'A' as const, class: 'IN' as const }));
    const opt = { type: 'OPT' as const, name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
    const r = decode(respond(query(many, { additionals: [opt] }), RECORDS, 'udp')!);
    assert.deepEqual([r.flag_tc, r.answers?.length], [false, 20]);
    const back = r.additionals?.[0];
    assert.equal(back?.type === 'OPT' && back.udpPayloadSize, 1232);
  });

  it('answers NOTIMP to other opcodes and FORMERR to a query without questions', () => {
    const notify = Buffer.from(query([{ name: 'alpha.vm', type: 'A' }]));
    notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
    assert.equal(decode(respond(notify, RECORDS, 'udp')!).rcode, 'NOTIMP');
    assert.equal(decode(respond(query([]), RECORDS, 'udp')!).rcode, 'FORMERR');
  });
});
