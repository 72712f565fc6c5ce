import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, statfs, writeFile, stat as hostStat, readFile as readHost, lstat, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from '../../system/exec.js';
import { checkExt4, exists, growExt4, isExt4, listDir, mkfsFromDir, rdump, readText, readFile, removeFiles, stat, writeFiles } from './index.js';

const missing = ['mkfs.ext4', 'debugfs', 'e2fsck', 'resize2fs'].filter((t) => !which(t));
const skip = missing.length > 0 ? `needs e2fsprogs (${missing.join(', ')} not found)` : false;
const MiB = 1024 * 1024;

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-ext4-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function freshImage(name: string): Promise<string> {
  const src = join(dir, `${name}-src`);
  await mkdir(join(src, 'etc'), { recursive: true });
  await writeFile(join(src, 'etc', 'motd'), 'hello\n');
  const img = join(dir, `${name}.ext4`);
  await mkfsFromDir(img, src, { label: 'test', sizeBytes: 16 * MiB });
  return img;
}

test('mkfsFromDir makes a sparse, clean, root-owned ext4 from a tree', { skip }, async () => {
  const img = await freshImage('mkfs');
  const st = await hostStat(img);
  assert.equal(st.size, 16 * MiB);
  assert.ok(st.blocks * 512 < st.size, 'image file is sparse');
  assert.ok(await isExt4(img));
  assert.equal(await readText(img, '/etc/motd'), 'hello\n');
  const root = await stat(img, '/');
  assert.equal(root?.uid, 0);
  assert.equal((await checkExt4(img)).clean, true);
});

test('isExt4 is false for other files', { skip }, async () => {
  const f = join(dir, 'not-ext4');
  await writeFile(f, Buffer.alloc(4096));
  assert.equal(await isExt4(f), false);
  assert.equal(await isExt4(join(dir, 'absent')), false);
});

test('writeFiles creates parents, files, modes, owners and symlinks; replaces files', { skip }, async () => {
  const img = await freshImage('write');
  await writeFiles(img, [
    { type: 'file', path: '/etc/motd', content: 'replaced\n', mode: 0o600, uid: 1000, gid: 1001 },
    { type: 'file', path: '/usr/local/libexec/tool', content: '#!/bin/sh\n', mode: 0o755 },
    { type: 'dir', path: '/root/.ssh', mode: 0o700 },
    { type: 'file', path: '/root/.ssh/authorized_keys', content: 'ssh-ed25519 AAAA test\n', mode: 0o600 },
    { type: 'symlink', path: '/etc/systemd/system/multi-user.target.wants/x.service', target: '/etc/systemd/system/x.service' },
    { type: 'file', path: '/etc/with space', content: Buffer.from([0, 1, 2, 255]) },
    { type: 'file', path: '/usr/bin/su', content: 'x', mode: 0o4755 },
  ]);
  assert.equal(await readText(img, '/etc/motd'), 'replaced\n');
  assert.deepEqual(await stat(img, '/etc/motd'), { type: 'file', mode: 0o600, uid: 1000, gid: 1001, size: 9 });
  assert.equal((await stat(img, '/usr/local'))?.mode, 0o755);
  assert.equal((await stat(img, '/usr/local/libexec/tool'))?.mode, 0o755);
  assert.equal((await stat(img, '/root/.ssh'))?.mode, 0o700);
  assert.equal((await stat(img, '/root/.ssh'))?.type, 'dir');
  assert.equal((await stat(img, '/etc/systemd/system/multi-user.target.wants/x.service'))?.type, 'symlink');
  assert.deepEqual(await readFile(img, '/etc/with space'), Buffer.from([0, 1, 2, 255]));
  assert.equal((await stat(img, '/usr/bin/su'))?.mode, 0o4755);
  assert.equal(await exists(img, '/nope'), false);
  const names = (await listDir(img, '/root/.ssh'))?.map((e) => e.name);
  assert.deepEqual(names, ['authorized_keys']);
  assert.equal((await checkExt4(img)).clean, true);

  // Writing again replaces, and removal ignores what is absent.
  await writeFiles(img, [{ type: 'symlink', path: '/etc/systemd/system/multi-user.target.wants/x.service', target: '/dev/null' }]);
  assert.deepEqual(await removeFiles(img, ['/etc/motd', '/etc/absent']), ['/etc/motd']);
  assert.equal(await exists(img, '/etc/motd'), false);
  assert.equal((await checkExt4(img)).clean, true);
});

test('writeFiles refuses bad paths and replacing directories', { skip }, async () => {
  const img = await freshImage('refuse');
  await assert.rejects(writeFiles(img, [{ type: 'file', path: '/etc/../x', content: '' }]), /invalid guest path/);
  await assert.rejects(writeFiles(img, [{ type: 'file', path: 'relative', content: '' }]), /not absolute/);
  await assert.rejects(writeFiles(img, [{ type: 'file', path: '/etc', content: '' }]), /is a directory/);
  await assert.rejects(writeFiles(img, [{ type: 'file', path: '/etc/motd/x', content: '' }]), /not a directory/);
  await assert.rejects(removeFiles(img, ['/etc']), /is a directory/);
});

test('rdump copies a guest directory out with modes', { skip }, async () => {
  const img = await freshImage('rdump');
  await writeFiles(img, [
    { type: 'file', path: '/root/.bashrc', content: 'PS1=x\n' },
    { type: 'file', path: '/root/.ssh/authorized_keys', content: 'k\n', mode: 0o600 },
    { type: 'symlink', path: '/root/link', target: '.bashrc' },
  ]);
  const out = join(dir, 'rdump-out');
  await rdump(img, '/root', out);
  assert.equal(await readHost(join(out, '.bashrc'), 'utf8'), 'PS1=x\n');
  assert.equal((await hostStat(join(out, '.ssh', 'authorized_keys'))).mode & 0o777, 0o600);
  assert.ok((await lstat(join(out, 'link'))).isSymbolicLink());
  assert.equal(await readlink(join(out, 'link')), '.bashrc');
});

test('growExt4 grows the file and the filesystem, never shrinks', { skip }, async () => {
  const img = await freshImage('grow');
  assert.equal(await growExt4(img, 32 * MiB), 32 * MiB);
  assert.equal((await hostStat(img)).size, 32 * MiB);
  assert.equal((await checkExt4(img)).clean, true);
  await assert.rejects(growExt4(img, 8 * MiB), /cannot shrink/);
});

test('growExt4 past what the host filesystem takes is a bad_request, and the image keeps its size', { skip }, async (t) => {
  if ((await statfs(dir)).type !== 0xef53) return t.skip('the test directory is not on ext4 (whose largest file is under 16 TiB)');
  const img = await freshImage('toobig');
  const size = (await hostStat(img)).size;
  await assert.rejects(growExt4(img, 16 * 1024 ** 4), (err: Error & { code?: string }) => err.code === 'bad_request' && /does not take files that large/.test(err.message));
  assert.equal((await hostStat(img)).size, size);
  assert.equal((await checkExt4(img)).clean, true);
});

test('checkExt4 reports a damaged filesystem', { skip }, async () => {
  const img = await freshImage('damaged');
  const { open } = await import('node:fs/promises');
  const fh = await open(img, 'r+');
  // Zero the first block group descriptor table.
  await fh.write(Buffer.alloc(4096), 0, 4096, 4096);
  await fh.close();
  assert.equal((await checkExt4(img)).clean, false);
});
