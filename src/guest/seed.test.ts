import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat as hostStat, writeFile, mkdir, symlink, lstat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, which } from '../system/exec.js';
import { readText, stat } from '../drivers/ext4/index.js';
import { rdump } from '../drivers/ext4/index.js';
import { buildSeedDisk, renderSeedFiles, seedProblems, type SeedConfig } from './seed.js';
import { SEED_KEYS_DIR, SEED_SCRIPT } from './seed-script.js';

const e2fs = ['mkfs.ext4', 'debugfs', 'e2label'].every((t) => which(t)) ? false : 'needs e2fsprogs';
const isRoot = process.getuid?.() === 0;

let dir = '';
let hostKey = { privateKey: '', publicKey: '' };
const clientKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2pU1f0Pv1Ex6mlkvT8SHkMCtLzfbDkpGByUkDMeX4f user@host';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-seed-test-'));
  if (which('ssh-keygen')) {
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'test-host', '-f', join(dir, 'hostkey')]);
    hostKey = { privateKey: await readFile(join(dir, 'hostkey'), 'utf8'), publicKey: await readFile(join(dir, 'hostkey.pub'), 'utf8') };
  } else {
    hostKey = {
      privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n',
      publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2pU1f0Pv1Ex6mlkvT8SHkMCtLzfbDkpGByUkDMeX4f test-host\n',
    };
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function seed(over: Partial<SeedConfig> = {}): SeedConfig {
  return {
    hostname: 'calm-otter',
    authorizedKeys: [clientKey],
    hostKey,
    network: { mode: 'static', address: '172.16.0.2', prefix: 24, gateway: '172.16.0.1' },
    nameservers: ['1.1.1.1', '9.9.9.9'],
    ...over,
  };
}

test('seed validation names each problem', () => {
  assert.deepEqual(seedProblems(seed()), []);
  const bad = seedProblems(
    seed({
      hostname: 'Bad_Name',
      authorizedKeys: ['not a key', `${clientKey}\nssh-rsa AAAA`],
      hostKey: { privateKey: 'x', publicKey: 'ssh-rsa AAAA' },
      network: { mode: 'static', address: '300.1.1.1', prefix: 33, gateway: 'gw' },
      nameservers: ['dns.example'],
    }),
  );
  for (const part of ['hostname', 'authorized key 1', 'authorized key 2', 'host private key', 'host public key', 'address', 'prefix', 'gateway', 'nameserver']) {
    assert.ok(bad.some((p) => p.includes(part)), `expected a problem about ${part}: ${bad.join(' | ')}`);
  }
  assert.ok(seedProblems(seed({ authorizedKeys: [] })).some((p) => p.includes('at least one')));
  assert.ok(seedProblems(seed({ hostname: '-x' })).length > 0);
  assert.ok(seedProblems(seed({ hostname: 'a'.repeat(64) })).length > 0);
  assert.throws(() => renderSeedFiles(seed({ hostname: 'x y' })), /invalid VM seed: hostname/);
});

test('seed files describe the network as key=value lines', () => {
  const files = Object.fromEntries(renderSeedFiles(seed()).map((f) => [f.name, f.content]));
  assert.equal(files['network.conf'], 'MODE=static\nADDRESS=172.16.0.2\nPREFIX=24\nGATEWAY=172.16.0.1\n');
  assert.equal(files['resolv.conf'], 'nameserver 1.1.1.1\nnameserver 9.9.9.9\n');
  assert.equal(files.version, '1\n');
  const dhcp = Object.fromEntries(renderSeedFiles(seed({ network: { mode: 'dhcp' }, nameservers: [] })).map((f) => [f.name, f.content]));
  assert.equal(dhcp['network.conf'], 'MODE=dhcp\n');
  assert.equal(dhcp['resolv.conf'], undefined);
});

test('buildSeedDisk round trip: files read back with debugfs', { skip: e2fs }, async () => {
  const disk = join(dir, 'seed.ext4');
  await buildSeedDisk(disk, seed());
  assert.equal((await hostStat(disk)).mode & 0o777, 0o600);
  assert.equal((await run(['e2label', disk])).stdout.trim(), 'BANGERSEED');
  assert.equal(await readText(disk, '/hostname'), 'calm-otter\n');
  assert.match(await readText(disk, '/hosts'), /127\.0\.1\.1\tcalm-otter\n/);
  assert.equal(await readText(disk, '/authorized_keys'), `${clientKey}\n`);
  assert.equal(await readText(disk, '/ssh_host_ed25519_key'), hostKey.privateKey.trim() + '\n');
  assert.equal((await stat(disk, '/ssh_host_ed25519_key'))?.mode, 0o600);
  assert.equal(await readText(disk, '/ssh_host_ed25519_key.pub'), hostKey.publicKey.trim() + '\n');
  assert.equal(await readText(disk, '/network.conf'), 'MODE=static\nADDRESS=172.16.0.2\nPREFIX=24\nGATEWAY=172.16.0.1\n');
  assert.equal(await readText(disk, '/version'), '1\n');
});

test('the seed script is valid POSIX sh', async (t) => {
  const shells = ['dash', 'sh'].filter((s) => which(s));
  if (shells.length === 0) return t.skip('no sh found');
  const f = join(dir, 'banger-seed');
  await writeFile(f, SEED_SCRIPT);
  for (const s of shells) await run([s, '-n', f]);
  if (which('shellcheck')) await run(['shellcheck', '-s', 'sh', '-S', 'warning', f]);
});

async function applySeed(name: string, config: SeedConfig, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const disk = join(dir, `${name}.ext4`);
  await buildSeedDisk(disk, config);
  const unpacked = join(dir, `${name}-seed`);
  await rdump(disk, '/', unpacked);
  const root = join(dir, `${name}-root`);
  await mkdir(join(root, 'etc'), { recursive: true });
  await symlink('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc', 'resolv.conf'));
  const script = join(dir, `${name}-script`);
  await writeFile(script, SEED_SCRIPT, { mode: 0o755 });
  await run(['sh', script], { env: { ...process.env, BANGER_SEED_DIR: unpacked, BANGER_SEED_ROOT: root, ...env } });
  return root;
}

test('the seed script applies a static seed to a root tree', { skip: e2fs || (!isRoot && 'needs root (install -o 0)') }, async () => {
  const root = await applySeed('static', seed());
  assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'calm-otter\n');
  const ssh = await hostStat(join(root, 'root/.ssh'));
  assert.equal(ssh.mode & 0o777, 0o700);
  const keys = await hostStat(join(root, 'root/.ssh/authorized_keys'));
  assert.equal(keys.mode & 0o777, 0o600);
  assert.equal(keys.uid, 0);
  assert.equal((await hostStat(join(root, 'etc/ssh/ssh_host_ed25519_key'))).mode & 0o777, 0o600);
  assert.equal((await hostStat(join(root, 'etc/ssh/ssh_host_ed25519_key.pub'))).mode & 0o777, 0o644);
  const net = await readFile(join(root, 'run/systemd/network/10-banger.network'), 'utf8');
  assert.match(net, /\[Match\]\nName=en\* eth\*\n/);
  assert.match(net, /Address=172\.16\.0\.2\/24\nGateway=172\.16\.0\.1\nDNS=1\.1\.1\.1\nDNS=9\.9\.9\.9\n/);
  assert.doesNotMatch(net, /DHCP/);
  assert.ok(!(await lstat(join(root, 'etc/resolv.conf'))).isSymbolicLink(), 'resolv.conf symlink replaced by a file');
  assert.equal(await readFile(join(root, 'etc/resolv.conf'), 'utf8'), 'nameserver 1.1.1.1\nnameserver 9.9.9.9\n');
});

test('with BANGER_SEED_KEYS=later the keys wait on /run until `banger-seed keys` puts them in /root/.ssh', { skip: e2fs || (!isRoot && 'needs root (install -o 0)') }, async () => {
  const root = await applySeed('later', seed(), { BANGER_SEED_KEYS: 'later' });
  assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'calm-otter\n', 'the rest of the seed is applied at once');
  assert.ok(!existsSync(join(root, 'root/.ssh')), '/root (the work disk) is not touched yet');
  const waiting = join(root, SEED_KEYS_DIR, 'authorized_keys');
  assert.equal((await hostStat(waiting)).mode & 0o777, 0o600);
  const script = join(dir, 'later-script');
  await run(['sh', script, 'keys'], { env: { ...process.env, BANGER_SEED_ROOT: root } });
  const keys = join(root, 'root/.ssh/authorized_keys');
  assert.equal(await readFile(keys, 'utf8'), `${clientKey}\n`);
  assert.equal((await hostStat(keys)).mode & 0o777, 0o600);
  assert.equal((await hostStat(join(root, 'root/.ssh'))).mode & 0o777, 0o700);
  const empty = await mkdtemp(join(dir, 'no-keys-'));
  await run(['sh', script, 'keys'], { env: { ...process.env, BANGER_SEED_ROOT: empty } });
  assert.ok(!existsSync(join(empty, 'root')), 'nothing waiting: /root is left alone');
});

test('the seed script applies a DHCP seed', { skip: e2fs || (!isRoot && 'needs root (install -o 0)') }, async () => {
  const root = await applySeed('dhcp', seed({ network: { mode: 'dhcp' }, nameservers: ['10.0.2.3'] }));
  const net = await readFile(join(root, 'run/systemd/network/10-banger.network'), 'utf8');
  assert.match(net, /DHCP=ipv4\n/);
  assert.doesNotMatch(net, /Address=/);
  assert.equal(await readFile(join(root, 'etc/resolv.conf'), 'utf8'), 'nameserver 10.0.2.3\n');
});

test('the seed script sets the guest proxy in a marked block of /etc/environment and apt, and removes it when the seed has none', { skip: e2fs || (!isRoot && 'needs root (install -o 0)') }, async () => {
  const root = await applySeed('proxy', seed({ network: { mode: 'dhcp' }, nameservers: ['10.0.2.3'], proxy: 'http://10.0.2.100:3128' }));
  const env = await readFile(join(root, 'etc/environment'), 'utf8');
  assert.match(env, /^http_proxy=http:\/\/10\.0\.2\.100:3128$/m);
  assert.match(env, /^HTTPS_PROXY=http:\/\/10\.0\.2\.100:3128$/m);
  assert.match(env, /^no_proxy=localhost,127\.0\.0\.1,::1$/m);
  assert.match(await readFile(join(root, 'etc/apt/apt.conf.d/80banger-proxy'), 'utf8'), /Acquire::https::Proxy "http:\/\/10\.0\.2\.100:3128\/";/);
  // A user's own line survives, the block is replaced (not doubled) and goes with a seed without proxy.
  await writeFile(join(root, 'etc/environment'), `LANG=C.UTF-8\n${env}`);
  const script = join(dir, 'proxy-script');
  const again = { ...process.env, BANGER_SEED_DIR: join(dir, 'proxy-seed'), BANGER_SEED_ROOT: root };
  await run(['sh', script], { env: again });
  const twice = await readFile(join(root, 'etc/environment'), 'utf8');
  assert.equal(twice.match(/^http_proxy=/gm)?.length, 1);
  assert.match(twice, /^LANG=C\.UTF-8$/m);
  await rm(join(dir, 'proxy-seed', 'proxy'));
  await run(['sh', script], { env: again });
  assert.equal(await readFile(join(root, 'etc/environment'), 'utf8'), 'LANG=C.UTF-8\n');
  assert.equal(existsSync(join(root, 'etc/apt/apt.conf.d/80banger-proxy')), false);
});

test('applying a seed starts no program once the directories exist (only mkdir and rm the first time)', { skip: e2fs || (!isRoot && 'needs root') }, async () => {
  const root = await applySeed('forks', seed({ proxy: 'http://10.0.2.100:3128' }));
  // Every tool the script could reach for logs its start, then does the real work.
  const bin = join(dir, 'forks-bin');
  await mkdir(bin);
  const log = join(dir, 'forks.log');
  for (const tool of ['mkdir', 'rm', 'install', 'mv', 'chmod', 'cat', 'sed', 'tr', 'wc', 'blkid', 'mount', 'umount', 'cp', 'ln']) {
    const real = which(tool);
    if (real) await writeFile(join(bin, tool), `#!/bin/sh\necho ${tool} >> ${log}\nexec ${real} "$@"\n`, { mode: 0o755 });
  }
  const env = { PATH: bin, BANGER_SEED_DIR: join(dir, 'forks-seed'), BANGER_SEED_ROOT: root };
  await run(['/bin/sh', join(dir, 'forks-script')], { env });
  assert.equal(existsSync(log) ? await readFile(log, 'utf8') : '', '', 'a later boot starts no program');
  assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'calm-otter\n');
  assert.match(await readFile(join(root, 'etc/environment'), 'utf8'), /^http_proxy=http:\/\/10\.0\.2\.100:3128$/m);

  const fresh = join(dir, 'forks-fresh');
  await mkdir(join(fresh, 'etc'), { recursive: true });
  await symlink('../run/systemd/resolve/stub-resolv.conf', join(fresh, 'etc', 'resolv.conf'));
  await run(['/bin/sh', join(dir, 'forks-script')], { env: { ...env, BANGER_SEED_ROOT: fresh } });
  const started = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  assert.deepEqual([...new Set(started)].sort(), ['mkdir', 'rm'], `a first boot makes directories and replaces the resolv.conf link: ${started.join(' ')}`);
  assert.ok(!(await lstat(join(fresh, 'etc/resolv.conf'))).isSymbolicLink());
  assert.equal((await hostStat(join(fresh, 'etc/ssh/ssh_host_ed25519_key'))).mode & 0o777, 0o600);
});

test('a seed proxy must be http://IPv4:port', () => {
  assert.throws(() => renderSeedFiles(seed({ proxy: 'http://example.com:3128' })), /proxy "http:\/\/example\.com:3128" is not http:\/\/IPv4:port/);
  assert.ok(renderSeedFiles(seed({ proxy: 'http://10.0.2.100:3128' })).some((f) => f.name === 'proxy' && f.content === 'http://10.0.2.100:3128\n'));
});
