import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { checkExt4, exists, listDir, readText, stat } from '../../drivers/ext4/index.js';
import { FSTAB_ROOT_LINE, guestBits, guestBitsDigest } from '../../guest/index.js';
import { sharedImage, sharedImageSkipReason } from '../../testing/shared-image.js';
import { inspectKernel } from '../artifacts/kernel-file.js';
import { sha256File } from '../artifacts/digest.js';
import { IMAGE_CMDLINE, IMAGE_FILES } from './manifest.js';
import { rootfsSize } from './build.js';

const MiB = 1024 * 1024;

test('rootfs size: content * 1.3 + 256MiB, whole MiB', () => {
  assert.equal(rootfsSize(0), 256 * MiB);
  assert.equal(rootfsSize(100 * MiB), 386 * MiB);
  assert.equal(rootfsSize(1), 257 * MiB);
});

test('the debian-bookworm build is a complete, bootable image set', { skip: sharedImageSkipReason(), timeout: 30 * 60_000 }, async (t) => {
  const img = await sharedImage();
  t.diagnostic(img.built ? `built in ${((img.buildMs ?? 0) / 1000).toFixed(1)}s at ${img.dir}` : `reused ${img.dir}`);
  const m = img.manifest;

  assert.deepEqual((await readdir(img.dir)).sort(), Object.values(IMAGE_FILES).filter((f) => f !== 'modules').sort());
  assert.equal(m.cmdline, IMAGE_CMDLINE);
  assert.equal(m.guestBits.digest, guestBitsDigest());

  // Both filesystems are clean.
  assert.equal((await checkExt4(img.rootfsPath)).clean, true, 'rootfs passes e2fsck -fn');
  assert.equal((await checkExt4(img.workSeedPath)).clean, true, 'work seed passes e2fsck -fn');

  // Kernel and initramfs were taken out of /boot and their digests recorded.
  assert.equal(await sha256File(img.kernelPath), m.sha256.kernel);
  assert.equal(await sha256File(img.initrdPath), m.sha256.initrd);
  const k = await inspectKernel(img.kernelPath);
  assert.equal(k?.format, 'bzImage');
  assert.equal(k?.version, m.kernelVersion);
  assert.equal(await exists(img.rootfsPath, `/lib/modules/${m.kernelVersion}/kernel/drivers/block/virtio_blk.ko`), true);

  // What docker needs from the kernel is there as modules for the kernel the image boots; mise is installed.
  for (const ko of ['fs/overlayfs/overlay.ko', 'net/bridge/bridge.ko', 'net/bridge/br_netfilter.ko', 'drivers/net/veth.ko', 'net/netfilter/nf_tables.ko', 'net/netfilter/nft_compat.ko', 'net/netfilter/nf_nat.ko']) {
    assert.equal(await exists(img.rootfsPath, `/lib/modules/${m.kernelVersion}/kernel/${ko}`), true, `${ko} in the image`);
  }
  assert.equal((await stat(img.rootfsPath, '/usr/local/bin/mise'))?.mode, 0o755);
  assert.equal((await stat(img.rootfsPath, '/usr/sbin/dockerd'))?.type, 'file');

  // Guest bits, root-owned with their modes.
  for (const b of guestBits()) {
    const st = await stat(img.rootfsPath, b.path);
    assert.ok(st, `${b.path} exists`);
    assert.equal(st.uid, 0, `${b.path} uid`);
    assert.equal(st.gid, 0, `${b.path} gid`);
    assert.equal(st.type, b.type === 'file' ? 'file' : 'symlink', `${b.path} type`);
    if (b.type === 'file') assert.equal(st.mode, b.mode, `${b.path} mode`);
  }
  assert.ok((await readText(img.rootfsPath, '/etc/fstab')).includes(FSTAB_ROOT_LINE));
  const sshKeys = ((await listDir(img.rootfsPath, '/etc/ssh')) ?? []).filter((e) => e.name.startsWith('ssh_host_'));
  assert.deepEqual(sshKeys, [], 'the image ships no SSH host keys');
  assert.equal((await stat(img.rootfsPath, '/lib/systemd/system/serial-getty@.service'))?.type, 'file');
  assert.equal((await stat(img.rootfsPath, '/lib/systemd/system/systemd-networkd.service'))?.type, 'file');
  assert.equal((await stat(img.rootfsPath, '/usr/sbin/sshd'))?.type, 'file');

  // Ownership and special bits survived mkfs.ext4 -d.
  const group = await readText(img.rootfsPath, '/etc/group');
  const shadowGid = Number(/^shadow:x:(\d+):/m.exec(group)?.[1]);
  const shadow = await stat(img.rootfsPath, '/etc/shadow');
  assert.deepEqual({ uid: shadow?.uid, gid: shadow?.gid, mode: shadow?.mode }, { uid: 0, gid: shadowGid, mode: 0o640 });
  for (const p of ['/usr/bin/sudo', '/usr/bin/passwd']) {
    const st = await stat(img.rootfsPath, p);
    assert.equal(st?.uid, 0, `${p} root-owned`);
    assert.equal((st?.mode ?? 0) & 0o4000, 0o4000, `${p} is setuid`);
  }

  // /root lives on the work disk: empty mount point in the rootfs, Debian's skeleton in the work seed.
  assert.deepEqual(await listDir(img.rootfsPath, '/root'), []);
  assert.equal((await stat(img.rootfsPath, '/root'))?.mode, 0o700);
  assert.equal((await stat(img.workSeedPath, '/'))?.mode, 0o700);
  assert.equal((await stat(img.workSeedPath, '/'))?.uid, 0);
  assert.equal(await exists(img.workSeedPath, '/.bashrc'), true);
  assert.equal(await exists(img.workSeedPath, '/.profile'), true);
});
