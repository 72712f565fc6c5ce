/**
 * image pull of crafted images through a real registry (Debian's docker-registry on 127.0.0.1): the
 * owners, modes, links, xattrs and long names of the layers reach the ext4; an evil image is refused
 * naming the entry and leaves nothing; a pull that does not fit on the disk is refused before it writes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { BangerError } from '../../api/errors.js';
import { resolveConfig } from '../../config/load.js';
import { resolveLayout, type Layout } from '../../config/paths.js';
import { checkExt4, readText, stat } from '../../drivers/ext4/index.js';
import { openStore } from '../../store/db.js';
import { run, which } from '../../system/exec.js';
import { layerBlob, pushImage, registryMissing, startRegistry, type TarEntry, type TestRegistry } from '../../testing/oci-registry.js';
import { quietContext } from '../op-context.js';
import { writeFakeBzImage } from '../kernels/fixtures.js';
import { ImageService } from './image-service.js';

const skip = registryMissing || (['mkfs.ext4', 'debugfs', 'e2fsck'].every((t) => which(t)) ? false : 'needs e2fsprogs');
const rootSkip = skip || (process.getuid?.() === 0 && which('mount') ? false : 'needs root to mount a small tmpfs');

let dir = '';
let kernel = '';
let reg: TestRegistry;
const config = resolveConfig({}, '/nonexistent/config.toml', {}, false).config;

interface Home {
  layout: Layout;
  db: Database;
  svc: ImageService;
}
const homes: Home[] = [];

function home(name: string): Home {
  const layout = resolveLayout({ env: { BANGER_HOME: join(dir, name) } });
  const db = openStore(layout.dbPath);
  const h = { layout, db, svc: new ImageService({ db, layout, config, dockerConfig: join(dir, 'no-docker-config.json') }) };
  homes.push(h);
  return h;
}

const entries = (d: string) => readdirSync(d, { recursive: true }).map(String);
const listing = (d: string) => (existsSync(d) ? entries(d) : []);

/** No image row, no image directory, no staging left, nothing in the blob cache but (empty) directories. */
function nothingLeft(h: Home, opts: { cache: boolean }): void {
  assert.deepEqual(h.svc.list(), []);
  assert.deepEqual(listing(h.layout.imagesDir), [], 'no image directory');
  assert.deepEqual(listing(h.layout.stagingDir), [], 'no staging left');
  if (opts.cache) {
    const files = listing(h.layout.ociCacheDir).filter((p) => !['blobs', 'blobs/sha256', 'partial'].includes(p));
    assert.deepEqual(files, [], 'nothing downloaded');
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp, hint?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BangerError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    if (hint) assert.match(err.hint ?? '', hint);
    return true;
  });
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'banger-pull-crafted-'));
  kernel = join(dir, 'vmlinuz');
  await writeFakeBzImage(kernel, '6.1.0-crafted');
  reg = await startRegistry();
});
after(async () => {
  if (skip) return;
  for (const h of homes) h.db.close();
  await reg.stop();
  await rm(dir, { recursive: true, force: true });
});

const LONG = `${'n'.repeat(100)}/${'m'.repeat(150)}`;
const PLANTED = `banger-planted-${randomBytes(4).toString('hex')}`;

test('a crafted image keeps setuid, setgid and sticky bits, odd owners, hardlinks, xattrs and long names', { skip }, async () => {
  const { svc } = home('crafted');
  const layers = [
    await layerBlob([
      { name: 'usr/bin/', type: 'directory' },
      { name: 'usr/bin/sudo', content: '#!/bin/sh\n', mode: 0o4755 },
      { name: 'usr/bin/sudoedit', type: 'link', linkname: 'usr/bin/sudo' },
      { name: 'usr/bin/wall', content: 'wall', mode: 0o2755, gid: 5 },
      { name: 'usr/bin/ping', content: 'ping', mode: 0o755, pax: { 'SCHILY.xattr.user.caps': 'cap_net_raw+ep' } },
      { name: 'var/tmp/', type: 'directory', mode: 0o1777 },
      // Owners too large for the ustar header travel in pax records.
      { name: 'home/odd/', type: 'directory', mode: 0o700, pax: { uid: '4000000', gid: '4000001' } },
      { name: 'home/odd/key', content: 'secret', mode: 0o400, pax: { uid: '4000000', gid: '4000001' } },
      { name: LONG, content: 'a long name', uid: 77, gid: 88, mode: 0o640 },
      // An absolute symlink is the image's path, never the host's: what is written through it stays inside.
      { name: 'srv/', type: 'directory' },
      { name: 'hostsrv', type: 'symlink', linkname: '/srv' },
      { name: `hostsrv/${PLANTED}`, content: 'inside the image' },
    ], 'gzip'),
    await layerBlob([
      { name: 'usr/bin/sudo2', type: 'link', linkname: 'usr/bin/sudo' },
      { name: 'etc/hostname', content: 'crafted\n', pax: { 'SCHILY.xattr.user.note': 'second layer' } },
    ], 'zstd'),
  ];
  await pushImage(reg.host, 'crafted/good', 'v1', layers);
  const img = await svc.pull({ ref: `${reg.host}/crafted/good:v1`, kernel }, quietContext());
  const rootfs = img.rootfsPath;
  assert.equal((await checkExt4(rootfs)).clean, true);

  const sudo = await stat(rootfs, '/usr/bin/sudo');
  assert.deepEqual([sudo?.mode, sudo?.uid, sudo?.gid], [0o4755, 0, 0], 'setuid root');
  assert.match((await run(['debugfs', '-R', 'stat /usr/bin/sudo', rootfs])).stdout, /Links: 3/, 'sudoedit and sudo2 (a later layer) are hardlinks of sudo');
  const wall = await stat(rootfs, '/usr/bin/wall');
  assert.deepEqual([wall?.mode, wall?.gid], [0o2755, 5], 'setgid with its group');
  assert.equal((await stat(rootfs, '/var/tmp'))?.mode, 0o1777, 'sticky');
  const odd = await stat(rootfs, '/home/odd/key');
  assert.deepEqual([odd?.mode, odd?.uid, odd?.gid], [0o400, 4_000_000, 4_000_001], 'owners beyond 16 bits');
  const long = await stat(rootfs, `/${LONG}`);
  assert.deepEqual([long?.mode, long?.uid, long?.gid], [0o640, 77, 88], 'a 250-character path');
  assert.equal(await readText(rootfs, `/${LONG}`), 'a long name');
  assert.match((await run(['debugfs', '-R', 'ea_get /usr/bin/ping user.caps', rootfs])).stdout, /cap_net_raw\+ep/);
  assert.match((await run(['debugfs', '-R', 'ea_get /etc/hostname user.note', rootfs])).stdout, /second layer/);
  assert.equal(await readText(rootfs, `/srv/${PLANTED}`), 'inside the image');
  assert.equal(existsSync(`/srv/${PLANTED}`), false, 'nothing written on the host through the absolute symlink');
});

const evil: [string, TarEntry[], RegExp][] = [
  ['path traversal', [{ name: 'etc/', type: 'directory' }, { name: '../../../escaped-by-pull', content: 'x' }], /"\.\.\/\.\.\/\.\.\/escaped-by-pull".*path traversal/],
  ['absolute path', [{ name: '/tmp/escaped-by-pull', content: 'x' }], /"\/tmp\/escaped-by-pull".*absolute path/],
  ['absolute symlink escape', [{ name: 'out', type: 'symlink', linkname: '/../../../tmp' }, { name: 'out/escaped-by-pull', content: 'x' }], /"out\/escaped-by-pull".*symlink escape/],
  ['relative symlink escape', [{ name: 'up', type: 'symlink', linkname: '../../../../../tmp' }, { name: 'up/escaped-by-pull', content: 'x' }], /"up\/escaped-by-pull".*symlink escape/],
  ['hardlink escape', [{ name: 'pw', type: 'link', linkname: '../../../../etc/passwd' }], /"pw".*hardlink escape/],
  ['absolute hardlink', [{ name: 'pw', type: 'link', linkname: '/etc/passwd' }], /"pw".*hardlink escape/],
  ['block device', [{ name: 'dev/', type: 'directory' }, { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }], /"dev\/sda".*device node/],
  ['char device', [{ name: 'dev/kmem', type: 'character-device', devmajor: 1, devminor: 2 }], /"dev\/kmem".*device node/],
];

test('evil images pulled from a registry are refused naming the entry, and leave nothing behind', { skip }, async () => {
  const h = home('evil');
  for (const [i, [what, layer, re]] of evil.entries()) {
    // A harmless first layer, so the evil one is not the only thing unpacked.
    const base = await layerBlob([{ name: 'etc/', type: 'directory' }, { name: 'etc/os-release', content: 'ID=debian\n' }]);
    await pushImage(reg.host, 'crafted/evil', `v${i}`, [base, await layerBlob(layer)]);
    await rejectsWith(h.svc.pull({ ref: `${reg.host}/crafted/evil:v${i}`, name: `evil-${i}`, kernel }, quietContext()), 'operation_failed', re);
    assert.deepEqual(h.svc.list(), [], `${what}: no image`);
    nothingLeft(h, { cache: false });
    for (const p of ['/tmp/escaped-by-pull', join(dir, 'escaped-by-pull'), join(h.layout.stateDir, 'escaped-by-pull')]) assert.equal(existsSync(p), false, `${what}: nothing written at ${p}`);
  }
});

async function withTmpfs(path: string, size: string, fn: () => Promise<void>): Promise<void> {
  await mkdir(path, { recursive: true });
  await run(['mount', '-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'banger-test', path]);
  try {
    await fn();
  } finally {
    await run(['umount', path]);
  }
}

test('a pull that needs more disk than is free is refused before it writes, naming what it needs and what is free', { skip: rootSkip }, async () => {
  const h = home('small-disk');
  await pushImage(reg.host, 'crafted/big', 'v1', [await layerBlob([{ name: 'blob', content: randomBytes(3 * 1024 * 1024) }], 'none')]);
  const ref = `${reg.host}/crafted/big:v1`;
  await withTmpfs(h.layout.cacheDir, '1m', async () => {
    await rejectsWith(h.svc.pull({ ref, kernel }, quietContext()), 'unavailable', /not enough free disk for the layers of .*crafted\/big:v1: it needs about 3(\.\d)?M, .*\/cache\/oci has (1M|\d+K) free/, /image cache prune/);
    nothingLeft(h, { cache: true });
  });
  await withTmpfs(h.layout.stagingDir, '16m', async () => {
    await rejectsWith(h.svc.pull({ ref, kernel }, quietContext()), 'unavailable', /not enough free disk for unpacking .*crafted\/big:v1: it needs about \d+(\.\d)?M, .*\/staging has 16M free/);
    nothingLeft(h, { cache: true });
  });
  // With the room back, the same pull goes through.
  const img = await h.svc.pull({ ref, kernel }, quietContext());
  assert.equal((await stat(img.rootfsPath, '/blob'))?.size, 3 * 1024 * 1024);
});
