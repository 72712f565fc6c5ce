/** The response cache answers exactly what the zone answers, with the asker's id, and forgets on a records change. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { ResponseCache } from './cache.js';
import { respond } from './zone.js';

const q = (id: number, name = 'alpha.vm') => dnsPacket.encode({ type: 'query', id, questions: [{ name, type: 'A', class: 'IN' }] });

describe('dns response cache', () => {
  it('gives the same bytes as the zone, with each query id', () => {
    const records = new Map([['alpha', '127.77.1.2']]);
    const cache = new ResponseCache();
    for (const id of [1, 2, 65535]) assert.deepEqual(cache.respond(q(id), records, 'udp'), respond(q(id), records, 'udp'));
    assert.equal(cache.size, 1);
    assert.deepEqual(cache.respond(q(3), records, 'tcp'), respond(q(3), records, 'tcp'));
    assert.equal(cache.size, 2, 'udp and tcp answers are kept apart (TC differs)');
  });

  it('forgets when the records change, keeps dropping what is dropped, and stays bounded', () => {
    const cache = new ResponseCache(3);
    const before = new Map([['alpha', '127.77.1.2']]);
    cache.respond(q(1), before, 'udp');
    const after = new Map<string, string>();
    assert.equal(dnsPacket.decode(cache.respond(q(2), after, 'udp')!).answers?.length, 0);
    const junk = Buffer.alloc(20, 0xff);
    assert.equal(cache.respond(junk, after, 'udp'), undefined);
    assert.equal(cache.respond(junk, after, 'udp'), undefined);
    for (const n of ['a', 'b', 'c', 'd', 'e']) cache.respond(q(1, `${n}.vm`), after, 'udp');
    assert.ok(cache.size <= 3);
  });
});
