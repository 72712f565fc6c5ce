import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../system/exec.js';
import { renderSSHConfig, writeSSHConfig } from './ssh-config.js';

void test('renderSSHConfig', () => {
  assert.equal(
    renderSSHConfig({ keyPath: '/home/u/.local/state/banger/ssh/id_ed25519', knownHostsPath: '/home/u/.local/state/banger/ssh/known_hosts' }),
    [
      '# Managed by banger: changes here are overwritten.',
      '# Use it from ~/.ssh/config with `banger ssh-config --install`.',
      'Host *.vm',
      '  User root',
      '  IdentityFile "/home/u/.local/state/banger/ssh/id_ed25519"',
      '  IdentitiesOnly yes',
      '  UserKnownHostsFile "/home/u/.local/state/banger/ssh/known_hosts"',
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  UpdateHostKeys no',
      '  CheckHostIP no',
      '  PreferredAuthentications publickey',
      '  KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  );
});

void test('renderSSHConfig escapes % and refuses unusable paths', () => {
  assert.match(renderSSHConfig({ keyPath: '/a b/100%/k', knownHostsPath: '/kh' }), /IdentityFile "\/a b\/100%%\/k"/);
  assert.throws(() => renderSSHConfig({ keyPath: 'relative', knownHostsPath: '/kh' }), /absolute/);
  assert.throws(() => renderSSHConfig({ keyPath: '/a"b', knownHostsPath: '/kh' }));
  assert.throws(() => renderSSHConfig({ keyPath: '/k', knownHostsPath: '/x\nHost *' }));
  assert.throws(() => renderSSHConfig({ keyPath: '/k', knownHostsPath: '/kh', user: 'root\nProxyCommand x' }));
});

async function withHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'banger-home-test-'));
  try {
    await fn(home);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

void test('writeSSHConfig writes 0600 and reports changes; ssh accepts the result', () =>
  withHome(async (home) => {
    const cfg = join(home, 'banger', 'ssh_config');
    const opts = { keyPath: join(home, 'state', 'id_ed25519'), knownHostsPath: join(home, 'state', 'known_hosts') };
    assert.deepEqual(await writeSSHConfig(cfg, opts), { path: cfg, changed: true });
    assert.deepEqual(await writeSSHConfig(cfg, opts), { path: cfg, changed: false });
    assert.equal((await stat(cfg)).mode & 0o777, 0o600);

    // ssh -G prints the effective configuration for a host.
    const vm = await run(['ssh', '-F', cfg, '-G', 'dev.vm']);
    assert.match(vm.stdout, /^user root$/m);
    assert.match(vm.stdout, new RegExp(`^identityfile ${opts.keyPath}$`, 'm'));
    assert.match(vm.stdout, new RegExp(`^userknownhostsfile ${opts.knownHostsPath}$`, 'm'));
    assert.match(vm.stdout, /^stricthostkeychecking true$/m);
    assert.match(vm.stdout, /^kexalgorithms curve25519-sha256,/m, 'the fast key exchange first, in a form ssh accepts');
  }));
