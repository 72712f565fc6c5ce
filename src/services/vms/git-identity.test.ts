import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runUnchecked, which } from '../../system/exec.js';
import { gitIdentityCommand } from './git-identity.js';

const realGit = which('git');

void test('the guest command sets the identity once and starts no git when ~/.gitconfig already holds it', { skip: !realGit && 'needs git' }, async () => {
  const home = await mkdtemp(join(tmpdir(), 'banger-gitid-'));
  try {
    // A git that logs each start, then does the real work.
    const bin = join(home, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'git'), `#!/bin/sh\necho "$*" >> "${home}/git.log"\nexec ${realGit} "$@"\n`);
    await chmod(join(bin, 'git'), 0o755);
    const env = { HOME: home, PATH: `${bin}:/usr/bin:/bin`, GIT_CONFIG_NOSYSTEM: '1' };
    const starts = async () => (await readFile(join(home, 'git.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    const setIt = (name: string, email: string) => runUnchecked(gitIdentityCommand({ name, email }), { env });

    const name = `Ada "the" Host\\x`;
    assert.equal((await setIt(name, 'ada@example.org')).code, 0);
    assert.equal(await starts(), 2);
    assert.equal((await run(['git', 'config', '--global', '--get', 'user.name'], { env })).stdout.trim(), name);

    assert.equal((await setIt('Ada Host', 'ada@example.org')).code, 0);
    assert.equal(await starts(), 3, 'only the changed name is written');
    assert.equal((await setIt('Ada Host', 'ada@example.org')).code, 0);
    assert.equal(await starts(), 3, 'nothing to change: no git started');

    // The same line in another section is not the identity.
    await writeFile(join(home, '.gitconfig'), '[sendemail]\n\temail = ada@example.org\n[user]\n\tname = Ada Host\n');
    assert.equal((await setIt('Ada Host', 'ada@example.org')).code, 0);
    assert.equal(await starts(), 4);
    assert.equal((await run(['git', 'config', '--global', '--get', 'user.email'], { env })).stdout.trim(), 'ada@example.org');
    assert.equal((await setIt('', 'ada@example.org')).code, 0);
    assert.equal(await starts(), 4, 'an empty value leaves that key alone');
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
