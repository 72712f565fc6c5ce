/** Context names, ssh:// URLs, the contexts file and the version check of a remote daemon. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BangerError } from '../../api/errors.js';
import { checkContextName, checkSshOption, parseSshUrl, readContexts, writeContexts } from './store.js';
import { versionMismatch } from './ssh-transport.js';
import { selectContext } from './resolve.js';

const badRequest = (err: unknown) => err instanceof BangerError && err.code === 'bad_request';

test('context names are DNS-label-like', () => {
  for (const ok of ['big', 'build-box', 'a', 'x1', 'a'.repeat(32)]) checkContextName(ok);
  for (const bad of ['', 'Big', '-a', 'a-', 'a_b', 'a.b', 'a'.repeat(33), 'é']) assert.throws(() => checkContextName(bad), badRequest, bad);
});

test('ssh:// URLs: user, host, port; other schemes and paths are refused with a hint', () => {
  assert.deepEqual(parseSshUrl('ssh://big'), { host: 'big' });
  assert.deepEqual(parseSshUrl('ssh://me@big.example.com:2222'), { user: 'me', host: 'big.example.com', port: 2222 });
  assert.deepEqual(parseSshUrl('ssh://root@127.0.0.1:22/'), { user: 'root', host: '127.0.0.1', port: 22 });
  assert.deepEqual(parseSshUrl('ssh://[::1]:2200'), { host: '::1', port: 2200 });
  for (const bad of ['big', 'http://big', 'ssh://', 'ssh://big/path', 'ssh://big:0', 'ssh://big:70000', 'ssh://-oProxyCommand=x', 'ssh://a b']) {
    assert.throws(() => parseSshUrl(bad), (err: unknown) => badRequest(err) && Boolean((err as BangerError).hint), bad);
  }
});

test('ssh options are KEY=VALUE', () => {
  checkSshOption('IdentityFile=~/.ssh/id');
  checkSshOption('ProxyJump=bastion');
  for (const bad of ['IdentityFile', '=x', '-oX=y', 'A=b\nc']) assert.throws(() => checkSshOption(bad), badRequest, bad);
});

test('contexts.json round-trips, private, and selection follows flag > env > current > default', () => {
  const dir = mkdtempSync('/tmp/ctx-');
  try {
    assert.deepEqual(readContexts(dir), { contexts: {} });
    writeContexts(dir, { current: 'big', contexts: { big: { host: 'ssh://big' }, lab: { host: 'ssh://lab', socket: '/run/banger/bangerd.sock' } } });
    assert.equal(statSync(join(dir, 'contexts.json')).mode & 0o777, 0o600);
    assert.equal((JSON.parse(readFileSync(join(dir, 'contexts.json'), 'utf8')) as { current: string }).current, 'big');
    const env = { BANGER_HOME: dir };
    assert.equal(selectContext(env).name, 'big');
    assert.equal(selectContext({ ...env, BANGER_CONTEXT: 'lab' }).remote?.socket, '/run/banger/bangerd.sock');
    assert.equal(selectContext({ ...env, BANGER_CONTEXT: 'lab' }, 'default').remote, undefined);
    assert.throws(() => selectContext(env, 'nope'), (err: unknown) => err instanceof BangerError && err.code === 'not_found');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a remote daemon of another version is refused, naming both versions and what to upgrade', () => {
  const me = { version: '0.2.0', commit: 'a', builtAt: 'x' };
  assert.equal(versionMismatch({ ...me, commit: 'b' }, me, 'big'), undefined);
  const older = versionMismatch({ ...me, version: '0.1.9' }, me, 'big');
  assert.equal(older?.code, 'unavailable');
  assert.match(older?.message ?? '', /bangerd on big is version 0\.1\.9; this CLI is version 0\.2\.0/);
  assert.match(older?.hint ?? '', /upgrade banger on big/);
  assert.match(versionMismatch({ ...me, version: '0.10.0' }, me, 'big')?.hint ?? '', /upgrade this CLI/);
});
