import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BangerError } from '../../../api/errors.js';
import { defaultImageName, isLoopbackRegistry, parseRef } from './reference.js';
import { normalizeAuthKey } from './credentials.js';
import { parseChallenge } from './registry.js';

const D = 'sha256:' + 'a'.repeat(64);

test('references: Docker Hub shorthands, registries with ports, tags and digests', () => {
  assert.deepEqual(parseRef('debian'), { registry: 'docker.io', repository: 'library/debian', tag: 'latest' });
  assert.deepEqual(parseRef('debian:bookworm'), { registry: 'docker.io', repository: 'library/debian', tag: 'bookworm' });
  assert.deepEqual(parseRef('docker.io/library/debian:bookworm'), { registry: 'docker.io', repository: 'library/debian', tag: 'bookworm' });
  assert.deepEqual(parseRef('index.docker.io/org/tool'), { registry: 'docker.io', repository: 'org/tool', tag: 'latest' });
  assert.deepEqual(parseRef('127.0.0.1:5000/team/base:v1'), { registry: '127.0.0.1:5000', repository: 'team/base', tag: 'v1' });
  assert.deepEqual(parseRef('localhost/x'), { registry: 'localhost', repository: 'x', tag: 'latest' });
  assert.deepEqual(parseRef(`ghcr.io/org/img@${D}`), { registry: 'ghcr.io', repository: 'org/img', digest: D });
  assert.deepEqual(parseRef(`ghcr.io/org/img:v2@${D}`), { registry: 'ghcr.io', repository: 'org/img', tag: 'v2', digest: D });
});

test('malformed references are bad_request with the reason and an example', () => {
  for (const [ref, re] of [
    ['', /empty/],
    ['Debian', /lowercase/],
    ['debian:', /tag ""/],
    ['debian@sha256:abc', /digest/],
    ['a//b', /empty component/],
    ['debian:bad tag', /tag/],
  ] as const) {
    assert.throws(() => parseRef(ref), (err: unknown) => {
      assert.ok(err instanceof BangerError);
      assert.equal(err.code, 'bad_request');
      assert.match(err.message, re);
      assert.match(err.hint ?? '', /debian:bookworm/);
      return true;
    }, ref);
  }
});

test('default image names come from the repository and the tag or digest', () => {
  assert.equal(defaultImageName(parseRef('docker.io/library/debian:bookworm')), 'debian-bookworm');
  assert.equal(defaultImageName(parseRef('alpine')), 'alpine-latest');
  assert.equal(defaultImageName(parseRef('127.0.0.1:5000/team/base:v1.2')), 'base-v1.2');
  assert.equal(defaultImageName(parseRef(`ghcr.io/org/img@${D}`)), 'img-aaaaaaaaaaaa');
});

test('loopback registries, Docker config keys and auth challenges', () => {
  assert.equal(isLoopbackRegistry('127.0.0.1:5000'), true);
  assert.equal(isLoopbackRegistry('localhost'), true);
  assert.equal(isLoopbackRegistry('[::1]:5000'), true);
  assert.equal(isLoopbackRegistry('registry.lan:5000'), false);
  assert.equal(normalizeAuthKey('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(normalizeAuthKey('http://127.0.0.1:5000'), '127.0.0.1:5000');
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull' },
  });
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
});
