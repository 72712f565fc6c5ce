import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runUnchecked } from '../system/exec.js';
import { INITRAMFS_TOOLS_INIT, TRIM_EARLY_MODULES, TRIM_INIT_SCRIPT, WORK_WAIT_STEPS } from './trim-init.js';
import { FSTAB_ROOT_LINE } from './guest-bits.js';
import { TRIM_GENERATORS_MASKED } from './boot-trim.js';

const isRoot = process.getuid?.() === 0;
const STUBS = ['mount', 'umount', 'modprobe', 'sleep', 'run-init'];

/** Runs the /init under a stand-in root with logging stand-ins for the commands it uses; returns the log lines. */
async function boot(cmdline: string, opts: { rootDevice?: boolean; mountFails?: boolean; fstab?: string; workDevice?: boolean; rootModulesFail?: boolean } = {}): Promise<{ log: string[]; stdout: string; masked: Record<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-trim-init-'));
  try {
    const r = join(dir, 'r');
    const bin = join(dir, 'bin');
    const log = join(dir, 'log');
    await mkdir(join(r, 'proc'), { recursive: true });
    await mkdir(join(r, 'conf'), { recursive: true });
    await mkdir(join(r, 'root/dev'), { recursive: true });
    await mkdir(join(r, 'root/sbin'), { recursive: true });
    await mkdir(join(r, 'dev'), { recursive: true });
    await mkdir(bin);
    await writeFile(join(r, 'proc/cmdline'), `${cmdline}\n`);
    await writeFile(join(r, 'conf/modules'), 'virtio_pci \n# comment\n\nvirtio_blk \n');
    await writeFile(join(r, 'root/dev/console'), '');
    await writeFile(join(r, 'root/sbin/init'), '', { mode: 0o755 });
    await writeFile(join(r, INITRAMFS_TOOLS_INIT), `#!/bin/sh\necho "initramfs-tools[$*]" >> ${log}\n`, { mode: 0o755 });
    if (opts.rootDevice) await run(['mknod', join(r, 'dev/vda'), 'b', '7', '250']);
    if (opts.workDevice) await run(['mknod', join(r, 'dev/vdb'), 'b', '7', '251']);
    if (opts.fstab !== undefined) {
      await mkdir(join(r, 'root/etc'), { recursive: true });
      await writeFile(join(r, 'root/etc/fstab'), opts.fstab);
    }
    for (const name of STUBS) {
      const fail =
        opts.mountFails && name === 'mount'
          ? 'case "$*" in *ext4*) exit 32;; esac\n'
          : opts.rootModulesFail && name === 'modprobe'
            ? 'case "$*" in *" -d "*) exit 1;; esac\n'
            : '';
      await writeFile(join(bin, name), `#!/bin/sh\necho "${name} $*" | sed "s#${r}#R#g" >> ${log}\n${fail}exit 0\n`);
      await chmod(join(bin, name), 0o755);
    }
    const script = join(dir, 'init');
    await writeFile(script, TRIM_INIT_SCRIPT, { mode: 0o755 });
    const res = await runUnchecked(['sh', script], { env: { ...process.env, BANGER_INIT_ROOT: r, BANGER_INIT_PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin` } });
    assert.equal(res.code, 0, res.stderr);
    const gens = join(r, 'root/run/systemd/system-generators');
    const masked: Record<string, string> = {};
    for (const g of await readdir(gens).catch(() => [])) masked[g] = await readlink(join(gens, g));
    return { log: (await readFile(log, 'utf8')).trim().split('\n'), stdout: res.stdout, masked };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the trimmed /init is valid POSIX sh', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'banger-trim-init-'));
  try {
    await writeFile(join(dir, 'init'), TRIM_INIT_SCRIPT);
    await run(['sh', '-n', join(dir, 'init')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a trimmed boot loads the listed modules, mounts root as the command line says and runs its init', { skip: !isRoot && 'needs root (mknod)' }, async () => {
  const { log, masked } = await boot('console=ttyS0 root=/dev/vda rw rootfstype=ext4 panic=-1', { rootDevice: true });
  assert.deepEqual(log, [
    'mount -t proc -o nodev,noexec,nosuid proc R/proc',
    'mount -t devtmpfs -o nosuid,mode=0755 udev R/dev',
    'modprobe -q -b virtio_pci',
    'modprobe -q -b virtio_blk',
    'mount -t ext4 -o rw R/dev/vda R/root',
    `modprobe -q -b -a -d R/root ${TRIM_EARLY_MODULES.join(' ')}`,
    'mount -n -o move R/dev R/root/dev',
    'mount -n -o move R/proc R/root/proc',
    'mount -t tmpfs -o nodev,noexec,nosuid,size=10%,mode=0755 tmpfs R/root/run',
    'run-init R/root /sbin/init',
  ]);
  assert.deepEqual(masked, Object.fromEntries(TRIM_GENERATORS_MASKED.map((g) => [g, '/dev/null'])), 'generators masked in root\'s /run');
  for (const kept of ['systemd-fstab-generator', 'systemd-getty-generator', 'systemd-debug-generator']) assert.ok(!(kept in masked), `${kept} still runs`);
});

test('the network card\'s, channel\'s and entropy device\'s drivers load from root\'s modules before systemd starts; a failure leaves them to udev', { skip: !isRoot && 'needs root (mknod)' }, async () => {
  assert.deepEqual([...TRIM_EARLY_MODULES], ['virtio_net', 'virtio_console', 'virtio_rng']);
  const failed = await boot('root=/dev/vda rw', { rootDevice: true, rootModulesFail: true });
  assert.match(failed.stdout, /banger init: virtio_net, virtio_console, virtio_rng are left to udev/);
  assert.equal(failed.log.at(-1), 'run-init R/root /sbin/init', 'the boot goes on');
});

test('the work disk is mounted at /root before systemd starts when the fstab has banger\'s line, unless fsck.mode=force', { skip: !isRoot && 'needs root (mknod)' }, async () => {
  const fstab = `# comment\nproc /proc proc defaults 0 0\n${FSTAB_ROOT_LINE}\n`;
  const work = await boot('root=/dev/vda rw', { rootDevice: true, fstab, workDevice: true });
  // From /dev/vdb, as the fstab says, before /dev moves: systemd matches the mount to its unit by that path.
  assert.deepEqual(work.log.slice(-5), [
    'mount -t ext4 -o rw R/dev/vdb R/root/root',
    'mount -n -o move R/dev R/root/dev',
    'mount -n -o move R/proc R/root/proc',
    'mount -t tmpfs -o nodev,noexec,nosuid,size=10%,mode=0755 tmpfs R/root/run',
    'run-init R/root /sbin/init',
  ]);
  const forced = await boot('root=/dev/vda rw fsck.mode=force', { rootDevice: true, fstab, workDevice: true });
  assert.ok(!forced.log.some((l) => l.includes('R/root/root')), 'systemd checks it, then mounts it');
  const other = await boot('root=/dev/vda rw', { rootDevice: true, fstab: '/dev/vdb /data ext4 defaults 0 2\n', workDevice: true });
  assert.ok(!other.log.some((l) => l.includes('R/root/root')), 'only banger\'s own /root line');
  const absent = await boot('root=/dev/vda rw', { rootDevice: true, fstab });
  assert.match(absent.stdout, /\/dev\/vdb is left to systemd/);
  assert.equal(absent.log.filter((l) => l.startsWith('sleep')).length, WORK_WAIT_STEPS);
  assert.equal(absent.log.at(-1), 'run-init R/root /sbin/init', 'the boot goes on');
});

test('banger.trim=off runs initramfs-tools\' /init without touching anything else', async () => {
  const { log, masked } = await boot('console=ttyS0 root=/dev/vda rw banger.trim=off');
  assert.deepEqual(masked, {}, 'no generator masked');
  assert.deepEqual(log.filter((l) => !l.startsWith('umount')), ['mount -t proc -o nodev,noexec,nosuid proc R/proc', 'initramfs-tools[]']);
  assert.ok(log.includes('umount R/proc'), '/proc is unmounted again: initramfs-tools mounts it itself');
});

test('the trimmed /init hands over to initramfs-tools when it cannot do the boot itself', { skip: !isRoot && 'needs root (mknod)' }, async () => {
  const label = await boot('root=LABEL=rootfs rw');
  assert.match(label.stdout, /root=LABEL=rootfs is not a device path; booting through initramfs-tools/);
  assert.equal(label.log.at(-1), 'initramfs-tools[]');
  const missing = await boot('root=/dev/vdz rw');
  assert.match(missing.stdout, /\/dev\/vdz did not appear/);
  assert.equal(missing.log.filter((l) => l.startsWith('sleep')).length, 500);
  assert.equal(missing.log.at(-1), 'initramfs-tools[]');
  const unmountable = await boot('root=/dev/vda rw', { rootDevice: true, mountFails: true });
  assert.match(unmountable.stdout, /could not mount \/dev\/vda/);
  assert.ok(unmountable.log.includes('umount R/dev'), '/dev is unmounted before initramfs-tools mounts its own');
  assert.equal(unmountable.log.at(-1), 'initramfs-tools[]');
});
