/**
 * A root daemon reads files for a client of another user only if that user could read them: a real
 * bangerd (fake driver) runs as root with its socket handed to a throwaway user (as in system mode),
 * and the CLI runs as that user.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { resolveLayout } from '../config/paths.js';
import { run, runUnchecked, spawnDetached, which } from '../system/exec.js';
import { lookupUser, type LocalUser } from '../system/users.js';
import { signalProcess, waitForExit } from '../system/proc.js';
import { BANGER_BIN } from '../testing/cli-process.js';
import { writeTinyImageFiles } from '../testing/tiny-image.js';
import { parseSsUnix, processCredentials } from '../system/unix-peer.js';

const BANGERD = fileURLToPath(new URL('../bin/bangerd.js', import.meta.url));

function skipReason(): string | undefined {
  if (process.geteuid?.() !== 0) return 'needs root (a root daemon and a throwaway user)';
  for (const tool of ['useradd', 'userdel', 'setpriv', 'ss', 'mkfs.ext4']) if (!which(tool)) return `${tool} is not installed`;
  return undefined;
}

describe('unix peer credentials', () => {
  it('parses ss -xpn lines: local inode, peer inode, holders', () => {
    const text = [
      'u_str ESTAB 0      0      /run/banger/bangerd.sock 2175027 * 2175026 users:(("bangerd",pid=10,fd=20))',
      'u_str ESTAB 0      0                                                     * 2175026 * 2175027 users:(("node",pid=42,fd=3),("node",pid=42,fd=7))',
      'u_str LISTEN 0 511 /tmp/a b.sock 99 * 0 users:(("x",pid=1,fd=3))',
    ].join('\n');
    const m = parseSsUnix(text);
    assert.deepEqual(m.get(2175027), { peer: 2175026, pids: [10] });
    assert.deepEqual(m.get(2175026), { peer: 2175027, pids: [42] });
    assert.deepEqual(m.get(99), { peer: 0, pids: [1] });
  });

  it('reads a process\'s effective uid, gid and groups', () => {
    const me = processCredentials(process.pid);
    assert.equal(me?.uid, process.geteuid?.());
    assert.equal(me?.gid, process.getegid?.());
    assert.equal(processCredentials(2 ** 22 + 12345), undefined);
  });
});

describe('client paths through a root daemon', { skip: skipReason(), timeout: 180_000 }, () => {
  const name = `bgt${randomBytes(3).toString('hex')}`;
  let user: LocalUser;
  let home = '';
  let clientHome = '';
  let daemonPid = 0;
  let socket = '';
  let files = { rootfs: '', kernel: '' };

  const asUser = async (args: string[]) => {
    const argv = ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', process.execPath, BANGER_BIN, ...args];
    const r = await runUnchecked(argv, { env: { PATH: process.env.PATH, NO_COLOR: '1', BANGER_HOME: clientHome, BANGER_SOCKET: socket }, timeoutMs: 60_000 });
    return r;
  };

  before(async () => {
    await run(['useradd', '-M', '-s', '/usr/sbin/nologin', name]);
    user = lookupUser(name)!;
    home = mkdtempSync('/tmp/bcp-');
    chmodSync(home, 0o711);
    const env = { ...process.env, BANGER_HOME: join(home, 'd'), BANGER_OWNER: name, BANGER_FAKE_DRIVER: '{}' };
    const layout = resolveLayout({ env });
    mkdirSync(layout.configDir, { recursive: true });
    writeFileSync(layout.configFile, 'dns_listen_addr = "127.0.0.1:0"\n');
    chmodSync(join(home, 'd'), 0o711);
    socket = layout.socketPath;
    daemonPid = spawnDetached([process.execPath, BANGERD], { env, logFile: join(home, 'bangerd.out') });
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(socket), 'the daemon listens');
    // The user's own files, and root-only copies of them.
    const mine = join(home, 'mine');
    mkdirSync(mine);
    files = await writeTinyImageFiles(mine);
    for (const p of [mine, files.rootfs, files.kernel]) chownSync(p, user.uid, user.gid);
    const secret = join(home, 'secret');
    mkdirSync(secret, { mode: 0o755 });
    copyFileSync(files.rootfs, join(secret, 'rootfs.ext4'));
    copyFileSync(files.kernel, join(secret, 'vmlinuz'));
    chmodSync(join(secret, 'rootfs.ext4'), 0o600);
    chmodSync(join(secret, 'vmlinuz'), 0o600);
    mkdirSync(join(secret, 'modules'), { mode: 0o700 });
    clientHome = join(home, 'client');
    mkdirSync(clientHome);
    chownSync(clientHome, user.uid, user.gid);
  });

  after(async () => {
    if (daemonPid) {
      signalProcess(daemonPid, 'SIGTERM');
      if (!(await waitForExit(daemonPid, 10_000))) signalProcess(daemonPid, 'SIGKILL');
    }
    await runUnchecked(['userdel', name]);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('refuses /etc/shadow as a rootfs, with a clear message', async () => {
    const r = await asUser(['image', 'register', '--name', 'stolen', '--rootfs', '/etc/shadow', '--kernel', files.kernel]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--rootfs \/etc\/shadow: permission denied for uid \d+; the daemon reads client files only with the client's own rights/);
  });

  it('refuses a root-only (0600) rootfs or kernel the user cannot read', async () => {
    const rootfs = await asUser(['image', 'register', '--name', 'stolen', '--rootfs', join(home, 'secret', 'rootfs.ext4'), '--kernel', files.kernel]);
    assert.notEqual(rootfs.code, 0);
    assert.match(rootfs.stderr, /--rootfs .*secret\/rootfs\.ext4: permission denied/);
    const kernel = await asUser(['image', 'register', '--name', 'stolen', '--rootfs', files.rootfs, '--kernel', join(home, 'secret', 'vmlinuz')]);
    assert.notEqual(kernel.code, 0);
    assert.match(kernel.stderr, /--kernel .*secret\/vmlinuz: permission denied/);
    const list = await asUser(['--json', 'image', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), [], 'nothing was registered');
  });

  it('refuses a root-only kernel, initrd or modules directory named in an image pull, before pulling anything', async () => {
    const ref = '127.0.0.1:9/none/such:latest';
    const kernel = await asUser(['image', 'pull', ref, '--name', 'stolen', '--kernel', join(home, 'secret', 'vmlinuz')]);
    assert.notEqual(kernel.code, 0);
    assert.match(kernel.stderr, /--kernel .*secret\/vmlinuz: permission denied for uid \d+/);
    const initrd = await asUser(['image', 'pull', ref, '--name', 'stolen', '--kernel', files.kernel, '--initrd', join(home, 'secret', 'rootfs.ext4')]);
    assert.notEqual(initrd.code, 0);
    assert.match(initrd.stderr, /--initrd .*secret\/rootfs\.ext4: permission denied/);
    const modules = await asUser(['image', 'pull', ref, '--name', 'stolen', '--kernel', files.kernel, '--modules', join(home, 'secret', 'modules')]);
    assert.notEqual(modules.code, 0);
    assert.match(modules.stderr, /--modules .*secret\/modules: permission denied/);
    const ops = await asUser(['--json', 'image', 'list']);
    assert.deepEqual(JSON.parse(ops.stdout), [], 'nothing was pulled');
  });

  it('refuses a device node for everyone', async () => {
    const r = await asUser(['image', 'register', '--name', 'disk', '--rootfs', '/dev/zero', '--kernel', files.kernel]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--rootfs \/dev\/zero is a character device; banger reads only regular files/);
    const imp = await asUser(['kernel', 'import', 'k1', '--kernel', '/dev/zero']);
    assert.notEqual(imp.code, 0);
    assert.match(imp.stderr, /--kernel \/dev\/zero is a character device/);
  });

  it('registers files the user can read', async () => {
    const r = await asUser(['image', 'register', '--name', 'own', '--rootfs', files.rootfs, '--kernel', files.kernel]);
    assert.equal(r.code, 0, r.stderr);
    const list = await asUser(['--json', 'image', 'list']);
    assert.deepEqual((JSON.parse(list.stdout) as { name: string }[]).map((i) => i.name), ['own']);
  });
});
