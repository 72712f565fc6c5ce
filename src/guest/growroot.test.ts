import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, statfs, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runUnchecked, which } from '../system/exec.js';
import { mkfsFromDir } from '../drivers/ext4/index.js';
import { guestBits, GUEST_BITS_VERSION } from './guest-bits.js';
import { GROWROOT_SCRIPT, GROWROOT_SCRIPT_PATH, GROWROOT_UNIT, GROWROOT_UNIT_PATH } from './growroot.js';

const MiB = 1024 * 1024;
let dir = '';
let script = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-growroot-test-'));
  script = join(dir, 'banger-growroot');
  await writeFile(script, GROWROOT_SCRIPT, { mode: 0o755 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function grow(mount: string, env: NodeJS.ProcessEnv = {}) {
  return runUnchecked(['sh', script], { env: { ...process.env, ...env, BANGER_GROWROOT_MOUNT: mount }, timeoutMs: 60_000 });
}

/** A directory whose only tools are the named host ones plus fakes written as sh scripts. */
async function binDir(name: string, real: string[], fakes: Record<string, string>): Promise<string> {
  const bin = join(dir, name);
  await mkdir(bin);
  for (const t of real) {
    const path = which(t);
    if (path) await symlink(path, join(bin, t));
  }
  for (const [t, body] of Object.entries(fakes)) await writeFile(join(bin, t), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return bin;
}

const BASICS = ['sh', 'findmnt', 'sed', 'tail', 'grep', 'cat'];

test('every image carries the unit, its script and the sysinit.target.wants link', () => {
  const bits = guestBits();
  const file = (p: string) => bits.find((b) => b.path === p);
  assert.deepEqual(file(GROWROOT_SCRIPT_PATH), { type: 'file', path: GROWROOT_SCRIPT_PATH, content: GROWROOT_SCRIPT, mode: 0o755 });
  assert.equal(file(GROWROOT_UNIT_PATH)?.type, 'file');
  assert.deepEqual(file('/etc/systemd/system/sysinit.target.wants/banger-growroot.service'), {
    type: 'symlink',
    path: '/etc/systemd/system/sysinit.target.wants/banger-growroot.service',
    target: GROWROOT_UNIT_PATH,
  });
  assert.ok(GUEST_BITS_VERSION >= 2, 'images without the unit are older');
  // Off the critical path: nothing requires it and sysinit.target does not wait for it; sshd does.
  assert.match(GROWROOT_UNIT, /^Before=ssh\.service shutdown\.target$/m);
  assert.match(GROWROOT_UNIT, /^After=systemd-remount-fs\.service$/m);
  assert.doesNotMatch(GROWROOT_UNIT, /^Before=.*sysinit\.target/m);
  assert.doesNotMatch(GROWROOT_UNIT, /^(Requires|RequiredBy|BindsTo)=/m);
  assert.match(GROWROOT_UNIT, /^StandardOutput=journal\+console$/m);
});

test('the script is valid POSIX sh', async (t) => {
  const shells = ['dash', 'sh'].filter((s) => which(s));
  if (shells.length === 0) return t.skip('no sh found');
  for (const s of shells) await run([s, '-n', script]);
  if (which('shellcheck')) await run(['shellcheck', '-s', 'sh', '-S', 'warning', script]);
});

test('a filesystem that is not ext2/3/4 is left alone, successfully', async () => {
  const r = await grow('/proc');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /banger-growroot: \/proc is proc, not ext2\/3\/4; left as it is/);
});

test('a directory that is not a mount point fails with a message', async () => {
  const r = await grow(dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not a mount point; nothing grown/);
});

test('a missing resize2fs fails with a message', async () => {
  const bin = await binDir('no-resize2fs', BASICS, {});
  const r = await grow('/', { PATH: bin });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /resize2fs is not installed; \/ not grown/);
});

/** Some ext2/3/4 filesystem mounted on this host from a block device, to drive the script with a fake resize2fs. */
async function hostExtMount(): Promise<string | undefined> {
  const r = await runUnchecked(['findmnt', '-n', '-r', '-o', 'TARGET,SOURCE', '-t', 'ext2,ext3,ext4']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' '))
    .find(([target, source]) => target && source?.startsWith('/dev/'))?.[0];
}

test('what resize2fs says is logged, and its failure fails the unit', async (t) => {
  const mount = await hostExtMount();
  if (!mount) return t.skip('no ext4 filesystem mounted from a block device on this host');
  const log = join(dir, 'resize2fs.args');
  const say = (out: string, code: number) => `echo "$@" > ${log}\nprintf '${out}'\nexit ${code}`;
  const cases: [string, string, number, RegExp][] = [
    ['grown', 'resize2fs 1.47.0\\nThe filesystem on X is now 2097152 (4k) blocks long.\\n\\n', 0, /: The filesystem on X is now 2097152 \(4k\) blocks long\.$/m],
    ['same', 'The filesystem is already 2097152 (4k) blocks long.  Nothing to do!\\n', 0, /already fills its disk$/m],
    ['broken', 'resize2fs: Permission denied to resize filesystem\\n', 1, /resize2fs \/dev\/\S+ failed; .* keeps its size:\n {2}resize2fs: Permission denied/],
  ];
  for (const [name, out, code, expect] of cases) {
    const bin = await binDir(`fake-${name}`, BASICS, { resize2fs: say(out, code) });
    const r = await grow(mount, { PATH: bin });
    assert.equal(r.code, code, `${name}: ${r.stderr}`);
    assert.match(r.stderr, expect, name);
    assert.match(await readFile(log, 'utf8'), /^\/dev\/\S+\n$/, 'resize2fs is given the device node');
  }
});

/** Online resizing needs CAP_SYS_RESOURCE, which containers often drop. */
async function canResizeOnline(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mount)';
  for (const tool of ['losetup', 'mount', 'umount', 'mkfs.ext4', 'resize2fs']) if (!which(tool)) return `${tool} is not installed`;
  const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(await readFile('/proc/self/status', 'utf8'))?.[1];
  if (!caps || (BigInt(`0x${caps}`) & (1n << 24n)) === 0n) return 'online resize needs CAP_SYS_RESOURCE, which this process lacks';
  return false;
}

test('a loop-mounted ext4 grows online to its grown device, and a second run changes nothing', async (t) => {
  const why = await canResizeOnline();
  if (why) return t.skip(why);
  const img = join(dir, 'root.ext4');
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  await mkfsFromDir(img, undefined, { label: 'growtest', sizeBytes: 64 * MiB, blockSize: 4096 });
  const loop = (await run(['losetup', '--find', '--show', img])).stdout.trim();
  try {
    await run(['mount', loop, mnt]);
    try {
      const size = async () => {
        const s = await statfs(mnt);
        return s.blocks * s.bsize;
      };
      assert.ok((await size()) < 64 * MiB);
      await truncate(img, 512 * MiB);
      await run(['losetup', '--set-capacity', loop]);
      const first = await grow(mnt);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /is now 131072 \(4k\) blocks long/);
      assert.ok((await size()) > 480 * MiB, `grown to ${await size()}`);
      const second = await grow(mnt);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /already fills its disk/);
    } finally {
      await runUnchecked(['umount', mnt]);
    }
  } finally {
    await runUnchecked(['losetup', '--detach', loop]);
  }
});
