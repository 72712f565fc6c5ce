import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { BangerError } from '../../api/errors.js';
import { resolveConfig } from '../../config/load.js';
import { resolveLayout, type Layout } from '../../config/paths.js';
import { checkExt4, exists, mkfsFromDir, readText, stat } from '../../drivers/ext4/index.js';
import { GUEST_BITS_MARKER, SEED_SCRIPT_PATH } from '../../guest/index.js';
import { openStore } from '../../store/db.js';
import { which } from '../../system/exec.js';
import { quietContext } from '../op-context.js';
import { writeFakeBzImage } from '../kernels/fixtures.js';
import { KernelService } from '../kernels/kernel-service.js';
import { sha256File } from '../artifacts/digest.js';
import { ImageService } from './image-service.js';
import { builtinRecipes, type Recipe } from './recipes.js';

const e2fs = ['mkfs.ext4', 'debugfs', 'e2fsck'].every((t) => which(t)) ? false : 'needs e2fsprogs';
const MiB = 1024 * 1024;

let dir = '';
let layout: Layout;
let db: Database;
let svc: ImageService;
let rootfs = '';
let kernel = '';

const config = resolveConfig({}, '/nonexistent/config.toml', {}, false).config;
const bookworm = builtinRecipes()[0]!;
const broken: Recipe = { ...bookworm, name: 'broken-recipe', packages: [...bookworm.packages, 'banger-no-such-package-xyz'] };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-images-test-'));
  layout = resolveLayout({ env: { BANGER_HOME: join(dir, 'home') } });
  db = openStore(layout.dbPath);
  svc = new ImageService({ db, layout, config, recipes: [bookworm, broken] });
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'etc/ssh'), { recursive: true });
  await mkdir(join(tree, 'root'), { recursive: true });
  await writeFile(join(tree, 'etc/fstab'), '# UNCONFIGURED FSTAB FOR BASE SYSTEM\n');
  await writeFile(join(tree, 'etc/ssh/ssh_host_rsa_key'), 'old key', { mode: 0o600 });
  await writeFile(join(tree, 'root/.bashrc'), 'PS1="$ "\n');
  rootfs = join(dir, 'user-rootfs.ext4');
  if (!e2fs) await mkfsFromDir(rootfs, tree, { label: 'user', sizeBytes: 32 * MiB });
  kernel = join(dir, 'user-vmlinuz');
  await writeFakeBzImage(kernel, '6.6.6-user');
});
after(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string, re?: RegExp): Promise<BangerError> {
  let caught: BangerError | undefined;
  await assert.rejects(
    () => (typeof p === 'function' ? Promise.resolve().then(p) : p),
    (err: unknown) => {
      assert.ok(err instanceof BangerError, `expected a BangerError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      if (re) assert.match(`${err.message} ${err.hint ?? ''}`, re);
      caught = err;
      return true;
    },
  );
  return caught!;
}

function stagingEmpty(): boolean {
  return !existsSync(layout.stagingDir) || readdirSync(layout.stagingDir).length === 0;
}

test('recipes are listed for image build --list', () => {
  assert.deepEqual(svc.recipes().map((r) => r.name), ['debian-bookworm', 'broken-recipe']);
  assert.ok(new ImageService({ db, layout, config }).recipes().some((r) => r.name === 'debian-bookworm' && r.description.length > 0));
});

test('build of an unknown preset is not_found and lists the presets', async () => {
  const err = await rejectsWith(svc.build('alpine', {}, quietContext()), 'not_found', /alpine/);
  assert.match(err.hint ?? '', /debian-bookworm/);
  assert.match(err.hint ?? '', /broken-recipe/);
});

test('get of a missing image lists local and buildable names', async () => {
  const err = await rejectsWith(() => svc.get('nope'), 'not_found', /nope/);
  assert.match(err.hint ?? '', /local images: /);
  assert.match(err.hint ?? '', /buildable: .*debian-bookworm/);
});

test('register: error cases name the path', { skip: e2fs }, async () => {
  const notExt4 = join(dir, 'not-ext4.img');
  await writeFile(notExt4, Buffer.alloc(64 * 1024));
  await rejectsWith(svc.register({ name: 'r1', rootfs: 'rootfs.ext4', kernel }), 'bad_request', /not absolute/);
  await rejectsWith(svc.register({ name: 'r1', rootfs: join(dir, 'missing.ext4'), kernel }), 'bad_request', /missing\.ext4 does not exist/);
  await rejectsWith(svc.register({ name: 'r1', rootfs: notExt4, kernel }), 'bad_request', /not-ext4\.img is not an ext4/);
  await rejectsWith(svc.register({ name: 'r1', rootfs: dir, kernel }), 'bad_request', /not a regular file/);
  await rejectsWith(svc.register({ name: 'r1', rootfs, kernel, kernelRef: 'k' }), 'bad_request', /mutually exclusive/);
  await rejectsWith(svc.register({ name: 'r1', rootfs, initrd: kernel, kernelRef: 'k' }), 'bad_request', /mutually exclusive/);
  await rejectsWith(svc.register({ name: 'r1', rootfs }), 'bad_request', /kernel is required/);
  await rejectsWith(svc.register({ name: 'r1', rootfs, kernel: notExt4 }), 'bad_request', /not-ext4\.img is not a Linux kernel/);
  await rejectsWith(svc.register({ name: 'r1', rootfs, kernel, initrd: join(dir, 'no-initrd') }), 'bad_request', /no-initrd does not exist/);
  await rejectsWith(svc.register({ name: 'r1', rootfs, kernelRef: 'no-such-kernel' }), 'not_found', /kernel list/);
  await rejectsWith(svc.register({ name: '../r1', rootfs, kernel }), 'bad_request', /image name/);
  assert.equal(svc.find('r1'), undefined);
});

test('register stores paths, leaves the files alone; names are unique', { skip: e2fs }, async () => {
  const before = await sha256File(rootfs);
  const img = await svc.register({ name: 'mine', rootfs, kernel });
  assert.equal(img.managed, false);
  assert.equal(img.rootfsPath, rootfs);
  assert.equal(img.kernelPath, kernel);
  assert.equal(img.meta.guestBits, false);
  assert.equal(await sha256File(rootfs), before, 'registered rootfs is not modified');
  assert.equal(svc.get('mine').id, img.id);
  assert.equal(svc.get(img.id).name, 'mine');
  await rejectsWith(svc.register({ name: 'mine', rootfs, kernel }), 'already_exists', /mine/);
  await rejectsWith(svc.build('debian-bookworm', { name: 'mine' }, quietContext()), 'already_exists', /mine/);

  const kernels = new KernelService({ db, layout });
  await kernels.importFiles('user-kernel', { kernel });
  const byRef = await svc.register({ name: 'by-ref', rootfs, kernelRef: 'user-kernel' });
  assert.equal(byRef.kernelRef, 'user-kernel');
  assert.equal(byRef.kernelPath, undefined);
  await rejectsWith(kernels.remove('user-kernel'), 'bad_request', /by-ref/);
  await svc.delete('by-ref', () => []);
  assert.ok(existsSync(rootfs), 'deleting a registered image keeps its files');
});

test('promote copies into managed storage and injects guest bits into the copy only', { skip: e2fs }, async () => {
  const before = await sha256File(rootfs);
  await svc.register({ name: 'promo', rootfs, kernel, initrd: kernel });
  const img = await svc.promote('promo');
  assert.equal(img.managed, true);
  assert.equal(img.source, 'promote');
  const dir = join(layout.imagesDir, img.id);
  assert.equal(img.rootfsPath, join(dir, 'rootfs.ext4'));
  assert.equal(img.kernelPath, join(dir, 'vmlinuz'));
  assert.equal(img.initrdPath, join(dir, 'initrd.img'));
  assert.equal(img.workSeedPath, join(dir, 'work-seed.ext4'));
  assert.equal(img.meta.guestBits, true);
  assert.equal(img.meta.kernelSha256, await sha256File(kernel));
  assert.equal(await sha256File(rootfs), before, 'the user file is untouched');
  assert.equal(await exists(rootfs, SEED_SCRIPT_PATH), false);
  assert.equal((await stat(img.rootfsPath, SEED_SCRIPT_PATH))?.mode, 0o755);
  assert.equal(await exists(img.rootfsPath, GUEST_BITS_MARKER), true);
  assert.equal(await exists(img.rootfsPath, '/etc/ssh/ssh_host_rsa_key'), false);
  assert.equal(await readText(img.workSeedPath ?? '', '/.bashrc'), 'PS1="$ "\n');
  assert.equal((await stat(img.workSeedPath ?? '', '/.bashrc'))?.uid, 0, 'work seed files are root-owned');
  assert.equal((await stat(img.workSeedPath ?? '', '/'))?.mode, 0o700);
  assert.equal((await checkExt4(img.rootfsPath)).clean, true);
  await rejectsWith(svc.promote('promo'), 'bad_request', /already managed/);
  assert.ok(stagingEmpty());

  await rejectsWith(svc.delete('promo', (id) => (id === img.id ? ['vm-a', 'vm-b'] : [])), 'bad_request', /vm-a, vm-b/);
  assert.ok(existsSync(dir));
  await svc.delete('promo', () => []);
  assert.ok(!existsSync(dir), 'managed files are removed');
  assert.equal(svc.find('promo'), undefined);
  assert.ok(stagingEmpty());
});

test('ensureDefault returns an existing image and refuses names without a recipe', { skip: e2fs }, async () => {
  const img = await svc.register({ name: 'debian-bookworm', rootfs, kernel });
  assert.equal((await svc.ensureDefault('debian-bookworm', quietContext())).id, img.id);
  await rejectsWith(svc.ensureDefault('no-recipe', quietContext()), 'not_found', /no-recipe/);
  await svc.delete('debian-bookworm', () => []);
});

const buildSkip = process.getuid?.() !== 0 ? 'image build needs root' : !which('mmdebstrap') ? 'mmdebstrap is not installed' : false;

test('a failing mmdebstrap (unknown package) is operation_failed and leaves nothing behind', { skip: buildSkip, timeout: 600_000 }, async () => {
  const err = await rejectsWith(svc.build('broken-recipe', { name: 'broken' }, quietContext()), 'operation_failed', /mmdebstrap failed/);
  assert.match(err.message, /banger-no-such-package-xyz/);
  assert.ok(stagingEmpty(), 'staging directory removed');
  assert.ok(!existsSync(layout.imagesDir) || readdirSync(layout.imagesDir).length === 0, 'nothing published');
  assert.equal(svc.find('broken'), undefined);
});

test('cancelling a build mid-mmdebstrap removes the staging tree', { skip: buildSkip, timeout: 600_000 }, async () => {
  const ac = new AbortController();
  let started = false;
  const ctx = { ...quietContext(ac.signal), log: (m: string) => { if (m.includes('downloading packages')) started = true; } };
  const p = svc.build('debian-bookworm', { name: 'cancelled' }, ctx);
  await rejectsWith(svc.build('debian-bookworm', { name: 'cancelled' }, quietContext()), 'already_exists', /already being built/);
  const timer = setInterval(() => { if (started) ac.abort(); }, 200);
  try {
    await assert.rejects(p, (e: Error) => e.name === 'AbortError' || /cancel/.test(e.message));
  } finally {
    clearInterval(timer);
  }
  assert.ok(started, 'mmdebstrap got as far as downloading');
  assert.ok(stagingEmpty(), 'staging directory removed');
  assert.equal(svc.find('cancelled'), undefined);
});
