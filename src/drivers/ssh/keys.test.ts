import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../system/exec.js';
import { ensureClientKey, generateHostKey, keyBody, publicKeyOf } from './keys.js';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-keys-test-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ED25519_LINE = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2} banger$/;

void test('ensureClientKey creates an ed25519 key, 0600 in a 0700 directory', () =>
  withTempDir(async (dir) => {
    const sshDir = join(dir, 'state', 'ssh');
    const keyPath = join(sshDir, 'id_ed25519');
    const key = await ensureClientKey(keyPath);
    assert.equal(key.path, keyPath);
    assert.equal(key.publicKeyPath, `${keyPath}.pub`);
    assert.match(key.publicKey, ED25519_LINE);
    assert.equal((await stat(sshDir)).mode & 0o777, 0o700);
    assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
    assert.equal((await readFile(`${keyPath}.pub`, 'utf8')).trim(), key.publicKey);
    const derived = await run(['ssh-keygen', '-y', '-f', keyPath]);
    assert.equal(keyBody(derived.stdout), keyBody(key.publicKey));
    assert.deepEqual((await readdir(sshDir)).sort(), ['id_ed25519', 'id_ed25519.pub']);
  }));

void test('ensureClientKey keeps an existing key and repairs its mode and public half', () =>
  withTempDir(async (dir) => {
    const keyPath = join(dir, 'id_ed25519');
    const first = await ensureClientKey(keyPath);
    await chmod(keyPath, 0o644);
    await writeFile(`${keyPath}.pub`, 'garbage\n');
    const again = await ensureClientKey(keyPath);
    assert.equal(keyBody(again.publicKey), keyBody(first.publicKey));
    assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
    assert.equal(keyBody(await readFile(`${keyPath}.pub`, 'utf8')), keyBody(first.publicKey));
  }));

void test('ensureClientKey: concurrent callers agree on one whole key and leave no temporary files', () =>
  withTempDir(async (dir) => {
    const keyPath = join(dir, 'ssh', 'id_ed25519');
    const keys = await Promise.all(Array.from({ length: 8 }, () => ensureClientKey(keyPath)));
    const bodies = new Set(keys.map((k) => keyBody(k.publicKey)));
    assert.equal(bodies.size, 1);
    const onDisk = await run(['ssh-keygen', '-y', '-f', keyPath]);
    assert.equal(keyBody(onDisk.stdout), [...bodies][0]);
    assert.equal(keyBody(await readFile(`${keyPath}.pub`, 'utf8')), [...bodies][0]);
    assert.deepEqual((await readdir(join(dir, 'ssh'))).sort(), ['id_ed25519', 'id_ed25519.pub']);
  }));

void test('generateHostKey returns a fresh, valid ed25519 pair and removes its temporary directory', async () => {
  const before = new Set((await readdir(tmpdir())).filter((n) => n.startsWith('banger-hostkey-')));
  const [a, b] = await Promise.all([generateHostKey(), generateHostKey()]);
  assert.match(a.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+-----END OPENSSH PRIVATE KEY-----\n$/);
  assert.match(a.publicKey, ED25519_LINE);
  assert.notEqual(keyBody(a.publicKey), keyBody(b.publicKey));
  const after = (await readdir(tmpdir())).filter((n) => n.startsWith('banger-hostkey-') && !before.has(n));
  assert.deepEqual(after, []);

  // The private half really belongs to the public half.
  await withTempDir(async (dir) => {
    const p = join(dir, 'k');
    await writeFile(p, a.privateKey, { mode: 0o600 });
    const derived = await run(['ssh-keygen', '-y', '-f', p]);
    assert.equal(keyBody(derived.stdout), keyBody(a.publicKey));
  });
});

void test('publicKeyOf reads the .pub file, or derives it from the private key', () =>
  withTempDir(async (dir) => {
    const keyPath = join(dir, 'id_ed25519');
    const key = await ensureClientKey(keyPath);
    assert.equal(await publicKeyOf(keyPath), key.publicKey);
    assert.equal(await publicKeyOf(`${keyPath}.pub`), key.publicKey);
    await rm(`${keyPath}.pub`);
    assert.equal(keyBody(await publicKeyOf(keyPath)), keyBody(key.publicKey));
    await assert.rejects(publicKeyOf(join(dir, 'missing.pub')));
  }));

void test('keyBody drops the comment and rejects junk', () => {
  assert.equal(keyBody('ssh-ed25519 AAAAC3Nza banger extra words\n'), 'ssh-ed25519 AAAAC3Nza');
  assert.throws(() => keyBody('justoneword'));
});
