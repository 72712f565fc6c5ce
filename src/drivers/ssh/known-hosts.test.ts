import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  hostAliases,
  hostKeyAlias,
  list,
  lookup,
  parseKnownHosts,
  pin,
  pinText,
  remove,
  removeText,
} from './known-hosts.js';

const K1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne';
const K2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo';
const K3 = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAThree=';

void test('aliases are stable per VM', () => {
  assert.equal(hostKeyAlias('0f3a'), 'banger-0f3a');
  assert.deepEqual(hostAliases({ name: 'dev', id: '0f3a' }), ['dev.vm', 'banger-0f3a']);
});

void test('pinText appends one line for all aliases, without the key comment', () => {
  assert.equal(pinText('', ['a.vm', 'banger-1'], `${K1} banger`), `a.vm,banger-1 ${K1}\n`);
});

void test('pinText replaces earlier entries for the aliases and keeps everything else verbatim', () => {
  const before = [
    '# banger known hosts',
    `a.vm,banger-1 ${K1}`,
    `b.vm,banger-2 ${K2}`,
    '',
    `@cert-authority *.vm ${K3}`,
    `|1|c2FsdA==|aGFzaA== ${K3}`,
    `a.vm,other ${K3}`,
  ].join('\n');
  const after = pinText(before, ['a.vm', 'banger-1'], K2);
  assert.equal(
    after,
    [
      '# banger known hosts',
      `b.vm,banger-2 ${K2}`,
      '',
      `@cert-authority *.vm ${K3}`,
      `|1|c2FsdA==|aGFzaA== ${K3}`,
      `other ${K3}`,
      `a.vm,banger-1 ${K2}`,
      '',
    ].join('\n'),
  );
  assert.equal(pinText(after, ['a.vm', 'banger-1'], K2), after);
});

void test('removeText drops the aliases only', () => {
  const text = `a.vm,banger-1 ${K1}\nb.vm,banger-2 ${K2}\n`;
  assert.equal(removeText(text, ['a.vm', 'banger-1']), `b.vm,banger-2 ${K2}\n`);
  assert.equal(removeText(text, ['banger-2']), `a.vm,banger-1 ${K1}\nb.vm ${K2}\n`);
  assert.equal(removeText(text, ['nope.vm']), text);
  assert.equal(removeText(`a.vm ${K1}\n`, ['a.vm']), '');
});

void test('parseKnownHosts reads entries and skips comments and junk', () => {
  assert.deepEqual(parseKnownHosts(`# c\n\nbad\na.vm,banger-1 ${K1} some comment\n@revoked x ${K2}\n`), [
    { hosts: ['a.vm', 'banger-1'], keyType: 'ssh-ed25519', key: K1.split(' ')[1], comment: 'some comment' },
    { hosts: ['x'], keyType: 'ssh-ed25519', key: K2.split(' ')[1], marker: '@revoked' },
  ]);
});

void test('aliases and keys are validated', () => {
  assert.throws(() => pinText('', [], K1), /alias/);
  assert.throws(() => pinText('', ['a b'], K1), /alias/);
  assert.throws(() => pinText('', ['a,b'], K1), /alias/);
  assert.throws(() => pinText('', ['*.vm'], K1), /alias/);
  assert.throws(() => pinText('', ['a.vm'], 'ssh-ed25519'), /public key/);
  assert.throws(() => pinText('', ['a.vm'], 'ssh-ed25519 not$base64'), /public key/);
  assert.throws(() => pinText('', ['a.vm'], 'evil-type AAAA'), /public key/);
});

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-kh-test-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void test('pin, lookup, list and remove on a file (0600, written atomically)', () =>
  withTempDir(async (dir) => {
    const file = join(dir, 'ssh', 'known_hosts');
    assert.deepEqual(await list(file), []);
    await pin(file, hostAliases({ name: 'dev', id: '1' }), `${K1} c`);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(await readFile(file, 'utf8'), `dev.vm,banger-1 ${K1}\n`);
    await pin(file, hostAliases({ name: 'web', id: '2' }), K2);
    await pin(file, hostAliases({ name: 'dev', id: '1' }), K3);
    assert.equal(await lookup(file, 'banger-1'), K3);
    assert.equal(await lookup(file, 'web.vm'), K2);
    assert.equal(await lookup(file, 'nope'), undefined);
    assert.equal((await list(file)).length, 2);
    assert.equal(await remove(file, hostAliases({ name: 'dev', id: '1' })), true);
    assert.equal(await remove(file, hostAliases({ name: 'dev', id: '1' })), false);
    assert.equal(await readFile(file, 'utf8'), `web.vm,banger-2 ${K2}\n`);
    assert.deepEqual(await readdir(join(dir, 'ssh')), ['known_hosts']);
  }));

void test('concurrent pins on one file all survive', () =>
  withTempDir(async (dir) => {
    const file = join(dir, 'known_hosts');
    await writeFile(file, '# kept\n', { mode: 0o600 });
    const n = 20;
    await Promise.all(Array.from({ length: n }, (_, i) => pin(file, hostAliases({ name: `vm${i}`, id: `${i}` }), K1)));
    const entries = await list(file);
    assert.equal(entries.length, n);
    for (let i = 0; i < n; i++) assert.equal(await lookup(file, `banger-${i}`), K1);
    assert.ok((await readFile(file, 'utf8')).startsWith('# kept\n'));
  }));
