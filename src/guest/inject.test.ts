import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile, readFile, lstat, readlink, stat as hostStat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from '../system/exec.js';
import { checkExt4, exists, mkfsFromDir, readText, stat } from '../drivers/ext4/index.js';
import { guestBits, patchFstab, patchPamSshd, FSTAB_ROOT_LINE, GUEST_ABSENT, guestBitsDigest, PAM_MOTD_OFF } from './guest-bits.js';
import { injectGuestBits, layGuestBits } from './inject.js';

const skip = ['mkfs.ext4', 'debugfs', 'e2fsck'].every((t) => which(t)) ? false : 'needs e2fsprogs';
const isRoot = process.getuid?.() === 0;
let dir = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-inject-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function baseTree(name: string): Promise<string> {
  const root = join(dir, name);
  await mkdir(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
  await writeFile(join(root, 'etc/fstab'), '# UNCONFIGURED FSTAB FOR BASE SYSTEM\n/dev/old /root ext4 defaults 0 0\n/dev/vdc /data ext4 defaults 0 0\n');
  for (const k of ['rsa', 'ecdsa', 'ed25519']) {
    await writeFile(join(root, `etc/ssh/ssh_host_${k}_key`), 'private', { mode: 0o600 });
    await writeFile(join(root, `etc/ssh/ssh_host_${k}_key.pub`), 'public');
  }
  await writeFile(join(root, 'etc/ssh/sshd_config'), 'Include /etc/ssh/sshd_config.d/*.conf\n');
  await mkdir(join(root, 'etc/pam.d'), { recursive: true });
  await writeFile(join(root, 'etc/pam.d/sshd'), DEBIAN_PAM_SSHD);
  const wants = join(root, 'etc/systemd/system/multi-user.target.wants');
  await mkdir(wants, { recursive: true });
  const { symlink } = await import('node:fs/promises');
  for (const u of ['docker.service', 'containerd.service', 'ssh.service']) await symlink(`/lib/systemd/system/${u}`, join(wants, u));
  return root;
}

test('patchFstab replaces any /root entry and keeps the rest', () => {
  const out = patchFstab('# UNCONFIGURED FSTAB FOR BASE SYSTEM\n/dev/old /root ext4 defaults 0 0\n# comment /root\n/dev/vdc /data ext4 defaults 0 0\n\n');
  assert.equal(out, `# comment /root\n/dev/vdc /data ext4 defaults 0 0\n# banger: the per-VM work disk holds root's home\n${FSTAB_ROOT_LINE}\n`);
  assert.equal(patchFstab(patchFstab(undefined)), patchFstab(undefined));
  assert.match(FSTAB_ROOT_LINE, /^\/dev\/vdb \/root ext4 defaults,x-systemd\.device-timeout=90s 0 2$/);
});

/** The session lines of Debian 12's /etc/pam.d/sshd. */
const DEBIAN_PAM_SSHD = [
  '@include common-session',
  '# Print the message of the day upon successful login.',
  '# This includes a dynamically generated part from /run/motd.dynamic',
  '# and a static (admin-editable) part from /etc/motd.',
  'session    optional     pam_motd.so  motd=/run/motd.dynamic',
  'session    optional     pam_motd.so noupdate',
  'session    optional     pam_mail.so standard noenv # [1]',
  '',
].join('\n');

test('patchPamSshd turns off the motd scripts of every login and keeps the static motd', () => {
  const out = patchPamSshd(DEBIAN_PAM_SSHD)!;
  const active = out.split('\n').filter((l) => /^\s*session/.test(l));
  assert.deepEqual(active, ['session    optional     pam_motd.so noupdate', 'session    optional     pam_mail.so standard noenv # [1]']);
  assert.ok(out.includes(`${PAM_MOTD_OFF}session    optional     pam_motd.so  motd=/run/motd.dynamic`));
  assert.equal(patchPamSshd(out), out, 'patching twice changes nothing');
  assert.equal(patchPamSshd(undefined), undefined, 'an image without the file gets none');
});

test('the guest-bits digest is stable', () => {
  assert.equal(guestBitsDigest(), guestBitsDigest());
  assert.match(guestBitsDigest(), /^[0-9a-f]{64}$/);
});

async function assertGuestBits(img: string): Promise<void> {
  for (const b of guestBits()) {
    const st = await stat(img, b.path);
    assert.ok(st, `${b.path} exists`);
    assert.equal(st.uid, 0, `${b.path} owned by root`);
    assert.equal(st.gid, 0, `${b.path} group root`);
    if (b.type === 'file') {
      assert.equal(st.type, 'file');
      assert.equal(st.mode, b.mode, `${b.path} mode`);
      assert.equal(await readText(img, b.path), b.content);
    } else {
      assert.equal(st.type, 'symlink', `${b.path} is a symlink`);
    }
  }
  assert.equal((await stat(img, '/usr/local/libexec/banger-seed'))?.mode, 0o755);
  assert.equal((await stat(img, '/etc/systemd/system/banger-seed.service'))?.mode, 0o644);
  assert.equal((await stat(img, '/etc/ssh/sshd_config.d/99-banger.conf'))?.mode, 0o644);
  const fstab = await readText(img, '/etc/fstab');
  assert.ok(fstab.includes(FSTAB_ROOT_LINE));
  assert.ok(!fstab.includes('/dev/old'));
  assert.ok(fstab.includes('/dev/vdc /data'));
  for (const k of ['rsa', 'ecdsa', 'ed25519']) {
    assert.equal(await exists(img, `/etc/ssh/ssh_host_${k}_key`), false, `${k} host key removed`);
    assert.equal(await exists(img, `/etc/ssh/ssh_host_${k}_key.pub`), false);
  }
  assert.equal(await exists(img, '/etc/ssh/sshd_config'), true);
  assert.equal(await readText(img, '/etc/pam.d/sshd'), patchPamSshd(DEBIAN_PAM_SSHD));
  for (const p of GUEST_ABSENT) assert.equal(await exists(img, p), false, `${p} removed: docker starts on demand`);
  assert.equal(await exists(img, '/etc/systemd/system/multi-user.target.wants/ssh.service'), true);
  assert.equal((await checkExt4(img)).clean, true);
}

test('injectGuestBits writes every bit into an existing ext4 with owners and modes', { skip }, async () => {
  const root = await baseTree('inject');
  const img = join(dir, 'inject.ext4');
  await mkfsFromDir(img, root, { label: 'inject', sizeBytes: 32 * 1024 * 1024 });
  await injectGuestBits(img);
  await assertGuestBits(img);
  // Injecting twice is harmless.
  await injectGuestBits(img);
  await assertGuestBits(img);
});

test('layGuestBits lays the same bits into a tree before mkfs', { skip: skip || (!isRoot && 'needs root (chown)') }, async () => {
  const root = await baseTree('lay');
  await layGuestBits(root);
  const link = join(root, 'etc/systemd/system/sysinit.target.wants/banger-seed.service');
  assert.ok((await lstat(link)).isSymbolicLink());
  assert.equal(await readlink(link), '/etc/systemd/system/banger-seed.service');
  assert.equal((await hostStat(join(root, 'usr/local/libexec/banger-seed'))).mode & 0o7777, 0o755);
  assert.ok((await readFile(join(root, 'etc/fstab'), 'utf8')).includes(FSTAB_ROOT_LINE));
  const img = join(dir, 'lay.ext4');
  await mkfsFromDir(img, root, { label: 'lay', sizeBytes: 32 * 1024 * 1024 });
  await assertGuestBits(img);
});

test('layGuestBits refuses to write through a symlink in the tree', { skip: !isRoot && 'needs root (chown)' }, async () => {
  const root = join(dir, 'evil');
  await mkdir(join(root, 'etc'), { recursive: true });
  const { symlink } = await import('node:fs/promises');
  await symlink(join(dir, 'outside'), join(root, 'etc/systemd'));
  await assert.rejects(layGuestBits(root), /not a plain directory/);
});
