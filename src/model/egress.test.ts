import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BangerError } from '../api/errors.js';
import { formatAllowEntry, nameAllowed, parseAllowEntry, parseAllowList } from './egress.js';

test('allow entries: names, wildcards, addresses and CIDRs parse to their kinds', () => {
  assert.deepEqual(parseAllowEntry('Example.COM.'), { kind: 'name', name: 'example.com' });
  assert.deepEqual(parseAllowEntry('*.npmjs.org'), { kind: 'wildcard', suffix: 'npmjs.org' });
  assert.deepEqual(parseAllowEntry('10.1.2.0/24'), { kind: 'cidr', net: '10.1.2.0', prefix: 24 });
  assert.deepEqual(parseAllowEntry('192.0.2.7'), { kind: 'cidr', net: '192.0.2.7', prefix: 32 });
});

test('allow lists: comma-separated, several arguments, duplicates dropped, order kept', () => {
  const l = parseAllowList(['example.com,*.npmjs.org', '10.1.2.0/24,example.com']);
  assert.deepEqual(l.map(formatAllowEntry), ['example.com', '*.npmjs.org', '10.1.2.0/24']);
});

test('a bad entry is refused with its text in the message and a hint', () => {
  for (const bad of ['exa mple.com', '*.', 'foo.*.com', '10.1.2.3/24', '10.1.2.0/33', '300.1.1.1', 'localhost', '-bad.com', '']) {
    assert.throws(
      () => parseAllowList(['example.com', bad]),
      (err: unknown) => err instanceof BangerError && err.code === 'bad_request' && err.message.includes(`"${bad}"`) && Boolean(err.hint),
      bad,
    );
  }
  assert.throws(() => parseAllowEntry('10.1.2.3/24'), /did you mean 10\.1\.2\.0\/24/);
});

test('names match exactly; wildcards match subdomains only; CIDRs match no name', () => {
  const l = parseAllowList(['example.com,*.npmjs.org,10.0.0.0/8']);
  assert.equal(nameAllowed(l, 'EXAMPLE.com.'), true);
  assert.equal(nameAllowed(l, 'www.example.com'), false);
  assert.equal(nameAllowed(l, 'registry.npmjs.org'), true);
  assert.equal(nameAllowed(l, 'a.b.npmjs.org'), true);
  assert.equal(nameAllowed(l, 'npmjs.org'), false);
  assert.equal(nameAllowed(l, 'evilnpmjs.org'), false);
  assert.equal(nameAllowed(l, '10.0.0.1'), false);
});
