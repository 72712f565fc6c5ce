import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BangerError } from '../../../api/errors.js';
import { checkExt4, readText, stat } from '../../../drivers/ext4/index.js';
import { run, which } from '../../../system/exec.js';
import { compress, makeTar, type TarEntry, type TestCompression } from '../../../testing/oci-registry.js';
import { quietContext } from '../../op-context.js';
import { treeToExt4, unpackLayers } from './to-ext4.js';

const skip = ['mkfs.ext4', 'debugfs', 'e2fsck', 'zstd'].every((t) => which(t)) ? false : 'needs e2fsprogs and zstd';
let dir = '';
let n = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-flatten-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function layerFile(entries: TarEntry[], how: TestCompression): Promise<{ path: string; label: string }> {
  const path = join(dir, `layer-${++n}`);
  await writeFile(path, await compress(await makeTar(entries), how));
  return { path, label: `L${n}` };
}

async function xattr(image: string, path: string, name: string): Promise<string> {
  const r = await run(['debugfs', '-R', `ea_get "${path}" ${name}`, image]);
  return r.stdout.trim();
}

const LONG = 'd'.repeat(90) + '/' + 'f'.repeat(120);

test('layers become an ext4 with the layers\' owners, modes, links, xattrs, whiteouts and opaque dirs', { skip }, async () => {
  const l1 = await layerFile(
    [
      { name: './', type: 'directory', mode: 0o755 },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/shadow', content: 'root:*:1::::::\n', mode: 0o640, gid: 42 },
      { name: 'usr/bin/su', content: '#!/bin/sh\n', mode: 0o4755 },
      { name: 'usr/bin/su2', type: 'link', linkname: 'usr/bin/su' },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
      { name: 'home/alice/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
      { name: 'home/alice/notes', content: 'hi', mode: 0o600, uid: 1000, gid: 1000, pax: { 'SCHILY.xattr.user.origin': 'layer-one' } },
      { name: 'run/pipe', type: 'fifo', mode: 0o620, uid: 7, gid: 8 },
      { name: 'to-delete', content: 'gone soon' },
      { name: 'opaque/', type: 'directory', mode: 0o711 },
      { name: 'opaque/old1', content: 'old' },
      { name: 'opaque/sub/old2', content: 'old' },
      { name: LONG, content: 'long name', uid: 123456, gid: 0, pax: { gid: '654321' } },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ],
    'gzip',
  );
  const l2 = await layerFile(
    [
      { name: '.wh.to-delete' },
      { name: 'opaque/.wh..wh..opq' },
      { name: 'opaque/new', content: 'new', uid: 65534, gid: 65534, mode: 0o2750 },
      { name: 'bin/newtool', content: 'through the symlink', mode: 0o755 },
      { name: 'etc/shadow', content: 'root:!:2::::::\n', mode: 0o640, gid: 42 },
    ],
    'zstd',
  );
  const l3 = await layerFile([{ name: 'etc/motd', content: 'plain tar layer\n', uid: 3, gid: 4, mode: 0o444 }], 'none');
  const ctx = quietContext();
  const tree = await unpackLayers([l1, l2, l3], join(dir, 'tree-good'), ctx);
  const img = join(dir, 'good.ext4');
  const size = await treeToExt4(tree, img, { label: 'bangerroot', scratchDir: dir }, ctx);
  assert.equal(size, 1024 * 1024 * 1024, 'a small image gets the 1 GiB floor');
  assert.equal((await checkExt4(img)).clean, true);

  assert.deepEqual(await stat(img, '/'), { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
  const shadow = await stat(img, '/etc/shadow');
  assert.deepEqual([shadow?.mode, shadow?.uid, shadow?.gid], [0o640, 0, 42]);
  assert.equal(await readText(img, '/etc/shadow'), 'root:!:2::::::\n', 'the upper layer wins');
  const su = await stat(img, '/usr/bin/su');
  assert.equal(su?.mode, 0o4755, 'setuid kept');
  const links = (await run(['debugfs', '-R', 'stat /usr/bin/su', img])).stdout;
  assert.match(links, /Links: 2/, 'su2 is a hardlink of su');
  assert.equal((await stat(img, '/bin'))?.type, 'symlink');
  assert.equal(await readText(img, '/usr/bin/newtool'), 'through the symlink');
  const alice = await stat(img, '/home/alice');
  assert.deepEqual([alice?.mode, alice?.uid, alice?.gid], [0o750, 1000, 1000]);
  assert.match(await xattr(img, '/home/alice/notes', 'user.origin'), /layer-one/);
  const pipe = await stat(img, '/run/pipe');
  assert.deepEqual([pipe?.type, pipe?.mode, pipe?.uid, pipe?.gid], ['fifo', 0o620, 7, 8]);
  assert.equal(await stat(img, '/to-delete'), undefined, 'whiteout removed it');
  assert.equal(await stat(img, '/opaque/old1'), undefined, 'opaque dir hides the lower layer');
  assert.equal(await stat(img, '/opaque/sub'), undefined);
  const fresh = await stat(img, '/opaque/new');
  assert.deepEqual([fresh?.mode, fresh?.uid, fresh?.gid], [0o2750, 65534, 65534]);
  assert.equal((await stat(img, '/opaque'))?.mode, 0o711);
  const long = await stat(img, '/' + LONG);
  assert.deepEqual([long?.uid, long?.gid], [123456, 654321], 'long names and 32-bit ids');
  assert.equal((await stat(img, '/tmp'))?.mode, 0o1777);
  const motd = await stat(img, '/etc/motd');
  assert.deepEqual([motd?.mode, motd?.uid, motd?.gid], [0o444, 3, 4]);
});

const evil: [string, TarEntry[], RegExp][] = [
  ['path traversal', [{ name: '../../escape', content: 'x' }], /"\.\.\/\.\.\/escape".*path traversal/],
  ['absolute path', [{ name: '/etc/evil', content: 'x' }], /"\/etc\/evil".*absolute path/],
  ['symlink escape', [{ name: 'esc', type: 'symlink', linkname: '../../../../tmp' }, { name: 'esc/evil', content: 'x' }], /"esc\/evil".*symlink escape/],
  ['hardlink escape', [{ name: 'hl', type: 'link', linkname: '../../../etc/passwd' }], /"hl".*hardlink escape/],
  ['absolute hardlink', [{ name: 'hl', type: 'link', linkname: '/etc/passwd' }], /"hl".*hardlink escape/],
  ['device node', [{ name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }], /"dev\/sda".*device node/],
  ['char device', [{ name: 'dev/mem', type: 'character-device', devmajor: 1, devminor: 1 }], /"dev\/mem".*device node/],
];

for (const [what, entries, re] of evil) {
  test(`an evil layer is refused, naming the entry: ${what}`, { skip }, async () => {
    const l = await layerFile(entries, 'gzip');
    const target = join(dir, `tree-${what.replace(/ /g, '-')}`);
    await assert.rejects(unpackLayers([l], target, quietContext()), (err: unknown) => {
      assert.ok(err instanceof BangerError);
      assert.equal(err.code, 'operation_failed');
      assert.match(err.message, re);
      return true;
    });
    assert.equal(existsSync(join(dir, '..', 'escape')), false);
  });
}

test('a symlink to an absolute path is followed inside the image, never on the host', { skip }, async () => {
  const l = await layerFile(
    [
      { name: 'realetc/', type: 'directory' },
      { name: 'abs', type: 'symlink', linkname: '/realetc' },
      { name: 'abs/hosts', content: 'inside' },
    ],
    'gzip',
  );
  const tree = await unpackLayers([l], join(dir, 'tree-abs'), quietContext());
  assert.deepEqual(await readdir(join(tree.root, 'realetc')), ['hosts']);
  assert.equal(existsSync('/realetc'), false);
});

test('--size smaller than the content is refused with the size that fits', { skip }, async () => {
  const l = await layerFile([{ name: 'big', content: Buffer.alloc(40 * 1024 * 1024, 1) }], 'zstd');
  const tree = await unpackLayers([l], join(dir, 'tree-size'), quietContext());
  await assert.rejects(treeToExt4(tree, join(dir, 'small.ext4'), { label: 'x', sizeBytes: 20 * 1024 * 1024, scratchDir: dir }, quietContext()), (err: unknown) => {
    assert.ok(err instanceof BangerError);
    assert.equal(err.code, 'bad_request');
    assert.match(err.hint ?? '', /--size \d+M/);
    return true;
  });
  assert.equal(existsSync(join(dir, 'small.ext4')), false);
});
