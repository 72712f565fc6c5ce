import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSSHConfig } from '../drivers/ssh/ssh-config.js';
import { run } from '../system/exec.js';
import {
  BLOCK_BEGIN,
  BLOCK_END,
  includeBlock,
  includeLine,
  installInclude,
  installIncludeText,
  isIncludeInstalled,
  uninstallInclude,
  uninstallIncludeText,
} from './ssh-include.js';

const CFG = '/home/u/.config/banger/ssh_config';

void test('includeLine and includeBlock', () => {
  assert.equal(includeLine(CFG), `Include "${CFG}"`);
  assert.equal(includeBlock(CFG), `${BLOCK_BEGIN}\nInclude "${CFG}"\n${BLOCK_END}\n`);
  assert.throws(() => includeLine('/a/*/ssh_config'), /glob/);
  assert.equal(includeLine('/a b/100%/ssh_config'), 'Include "/a b/100%%/ssh_config"');
  assert.throws(() => includeLine('relative/ssh_config'), /absolute/);
  assert.throws(() => includeLine('/a"b/ssh_config'));
  assert.throws(() => includeLine('/a\nHost *'));
});

const USER_CONFIG = 'Host github.com\n  User git\n\nHost *\n  ServerAliveInterval 30\n';

void test('installIncludeText puts the block first and keeps the rest byte for byte', () => {
  const out = installIncludeText(USER_CONFIG, CFG);
  assert.equal(out, includeBlock(CFG) + USER_CONFIG);
  assert.equal(installIncludeText(out, CFG), out);
  assert.equal(uninstallIncludeText(out), USER_CONFIG);
  assert.equal(installIncludeText('', CFG), includeBlock(CFG));
  assert.equal(uninstallIncludeText(includeBlock(CFG)), '');
});

void test('installIncludeText keeps odd files intact: no final newline, CRLF, existing block elsewhere', () => {
  const noEol = 'Host x\n  User y';
  assert.equal(uninstallIncludeText(installIncludeText(noEol, CFG)), noEol);

  const crlf = 'Host x\r\n  User y\r\n';
  const installed = installIncludeText(crlf, CFG);
  assert.equal(installed, `${BLOCK_BEGIN}\r\nInclude "${CFG}"\r\n${BLOCK_END}\r\n${crlf}`);
  assert.equal(uninstallIncludeText(installed), crlf);

  const moved = `# mine\n${BLOCK_BEGIN}\nInclude "/old/path"\n${BLOCK_END}\nHost x\n`;
  assert.equal(installIncludeText(moved, CFG), `# mine\n${includeBlock(CFG)}Host x\n`);
  assert.equal(uninstallIncludeText(moved), '# mine\nHost x\n');

  const twice = `${includeBlock(CFG)}Host a\n${includeBlock(CFG)}Host b\n`;
  assert.equal(installIncludeText(twice, CFG), `${includeBlock(CFG)}Host a\nHost b\n`);
  assert.equal(uninstallIncludeText(twice), 'Host a\nHost b\n');
});

void test('unbalanced markers are an error, never a guess', () => {
  assert.throws(() => installIncludeText(`${BLOCK_BEGIN}\nHost x\n`, CFG), /unbalanced/);
  assert.throws(() => uninstallIncludeText(`Host x\n${BLOCK_END}\n`), /unbalanced/);
  assert.throws(() => uninstallIncludeText(`${BLOCK_BEGIN}\n${BLOCK_BEGIN}\n${BLOCK_END}\n`), /unbalanced/);
});

async function withHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'banger-home-test-'));
  try {
    await fn(home);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

void test('installInclude / uninstallInclude on a real file: idempotent, mode kept, nothing else touched', () =>
  withHome(async (home) => {
    const path = join(home, '.ssh', 'config');
    await mkdir(join(home, '.ssh'), { mode: 0o700 });
    await writeFile(path, USER_CONFIG, { mode: 0o644 });
    await chmod(path, 0o644);
    assert.equal(await isIncludeInstalled(home), false);

    assert.deepEqual(await installInclude(home, CFG), { path, changed: true });
    assert.deepEqual(await installInclude(home, CFG), { path, changed: false });
    assert.equal(await readFile(path, 'utf8'), includeBlock(CFG) + USER_CONFIG);
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    assert.equal(await isIncludeInstalled(home), true);

    assert.deepEqual(await uninstallInclude(home), { path, changed: true });
    assert.deepEqual(await uninstallInclude(home), { path, changed: false });
    assert.equal(await readFile(path, 'utf8'), USER_CONFIG);
    assert.deepEqual(await readdir(join(home, '.ssh')), ['config']);
  }));

void test('installInclude creates ~/.ssh (0700) and config (0600) when missing; uninstall leaves a missing file missing', () =>
  withHome(async (home) => {
    assert.deepEqual(await uninstallInclude(home), { path: join(home, '.ssh', 'config'), changed: false });
    await assert.rejects(stat(join(home, '.ssh', 'config')));
    await installInclude(home, CFG);
    assert.equal((await stat(join(home, '.ssh'))).mode & 0o777, 0o700);
    assert.equal((await stat(join(home, '.ssh', 'config'))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(home, '.ssh', 'config'), 'utf8'), includeBlock(CFG));
  }));

void test('installInclude writes through a symlinked config and keeps the link', () =>
  withHome(async (home) => {
    await mkdir(join(home, 'dotfiles'));
    await mkdir(join(home, '.ssh'), { mode: 0o700 });
    const real = join(home, 'dotfiles', 'ssh_config');
    await writeFile(real, USER_CONFIG, { mode: 0o600 });
    await symlink(real, join(home, '.ssh', 'config'));
    await installInclude(home, CFG);
    assert.ok((await lstat(join(home, '.ssh', 'config'))).isSymbolicLink());
    assert.equal(await readFile(real, 'utf8'), includeBlock(CFG) + USER_CONFIG);
    await uninstallInclude(home);
    assert.equal(await readFile(real, 'utf8'), USER_CONFIG);
  }));

void test('the Include makes ssh use banger\'s ssh_config for *.vm only', () =>
  withHome(async (home) => {
    const cfg = join(home, 'banger', 'ssh_config');
    const opts = { keyPath: join(home, 'state', 'id_ed25519'), knownHostsPath: join(home, 'state', 'known_hosts') };
    await writeSSHConfig(cfg, opts);
    await installInclude(home, cfg);
    // ssh -G prints the effective configuration for a host.
    const userCfg = join(home, '.ssh', 'config');
    const vm = await run(['ssh', '-F', userCfg, '-G', 'dev.vm']);
    assert.match(vm.stdout, /^user root$/m);
    assert.match(vm.stdout, new RegExp(`^identityfile ${opts.keyPath}$`, 'm'));
    assert.match(vm.stdout, new RegExp(`^userknownhostsfile ${opts.knownHostsPath}$`, 'm'));
    const other = await run(['ssh', '-F', userCfg, '-G', 'example.com']);
    assert.doesNotMatch(other.stdout, new RegExp(opts.knownHostsPath));
  }));
