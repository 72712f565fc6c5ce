import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../../config/load.js';
import { RegistryClient } from './registry.js';

const base = (registry: string, insecure?: string[]) => new RegistryClient({ registry, repository: 'team/img' }, insecure ? { insecure } : {}).baseUrl;

test('TLS unless the registry is on loopback or listed in insecure_registries, matched by host and port', () => {
  assert.equal(base('127.0.0.1:5000'), 'http://127.0.0.1:5000');
  assert.equal(base('127.8.9.10'), 'http://127.8.9.10');
  assert.equal(base('localhost:5000'), 'http://localhost:5000');
  assert.equal(base('[::1]:5000'), 'http://[::1]:5000');
  assert.equal(base('registry.lan:5000'), 'https://registry.lan:5000');
  assert.equal(base('ghcr.io'), 'https://ghcr.io');
  assert.equal(base('docker.io'), 'https://registry-1.docker.io', 'the hub is reached at its API host');
  assert.equal(base('registry.lan:5000', ['registry.lan:5000']), 'http://registry.lan:5000');
  assert.equal(base('registry.lan:5000', ['registry.lan']), 'https://registry.lan:5000', 'a listed host without the port does not cover another port');
  assert.equal(base('registry.lan', ['registry.lan:5000']), 'https://registry.lan');
  assert.equal(base('[fd00::5]:5000', ['[fd00::5]:5000']), 'http://[fd00::5]:5000');
  assert.equal(base('other.lan:5000', ['registry.lan:5000']), 'https://other.lan:5000');
  assert.equal(base('127.0.0.1.example.com'), 'https://127.0.0.1.example.com', 'a name that only starts like a loopback address is not one');
});

test('insecure_registries takes host[:port] entries; a URL or a path is refused with an example', () => {
  const ok = resolveConfig({ insecure_registries: ['registry.lan:5000', 'mirror.lan', '[fd00::5]:5000'] }, '/etc/banger/config.toml', {}).config;
  assert.deepEqual(ok.insecure_registries, ['registry.lan:5000', 'mirror.lan', '[fd00::5]:5000']);
  for (const bad of [['http://registry.lan:5000'], ['registry.lan/team'], 'registry.lan', [5000]]) {
    assert.throws(() => resolveConfig({ insecure_registries: bad }, '/etc/banger/config.toml', {}), /insecure_registries.*expected a list of registries such as \["registry\.lan:5000"\]/s, JSON.stringify(bad));
  }
});
