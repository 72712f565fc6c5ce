/**
 * image pull NAME from the image catalog (bundles from a loopback HTTP server, OCI entries from a
 * loopback registry), the kernel catalog's default kernel, and the auto-pull behind vm create/run.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { BangerError } from '../../api/errors.js';
import { resolveConfig } from '../../config/load.js';
import { resolveLayout, type Layout } from '../../config/paths.js';
import { exists, mkfsFromDir } from '../../drivers/ext4/index.js';
import { GUEST_BITS_MARKER } from '../../guest/index.js';
import { openStore } from '../../store/db.js';
import { which } from '../../system/exec.js';
import { CatalogServer, makeBundle, sha256Of, type BundleEntry } from '../../testing/catalog-server.js';
import { layerBlob, pushImage, registryMissing, startRegistry, type TestRegistry } from '../../testing/oci-registry.js';
import { Catalogs } from '../artifacts/catalog/load.js';
import { writeFakeBzImage } from '../kernels/fixtures.js';
import { KernelService } from '../kernels/kernel-service.js';
import { quietContext, type OpContext } from '../op-context.js';
import { imageResolver } from '../vm-images.js';
import { ImageService } from './image-service.js';
import { builtinRecipes } from './recipes.js';

const skip = registryMissing || (['mkfs.ext4', 'debugfs', 'zstd'].every((t) => which(t)) ? false : 'needs e2fsprogs and zstd');
const config = resolveConfig({}, '/nonexistent/config.toml', {}, false).config;

let dir = '';
let layout: Layout;
let db: Database;
let images: ImageService;
let kernels: KernelService;
let reg: TestRegistry;
const server = new CatalogServer();
let rootfs: Buffer;
let bz: Buffer;
const imageCatalog = () => join(dir, 'images.json');
const kernelCatalog = () => join(dir, 'kernels.json');

function recording(): { ctx: OpContext; stages: string[]; logs: string[] } {
  const stages: string[] = [];
  const logs: string[] = [];
  return { stages, logs, ctx: { ...quietContext(), stage: (id, _l, fn) => (stages.push(id), fn()), log: (m) => void logs.push(m) } };
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BangerError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(`${err.message}\n${err.hint ?? ''}`, re);
    return true;
  });
}

function nothingLeft(): void {
  assert.ok(!existsSync(layout.stagingDir) || readdirSync(layout.stagingDir).length === 0, 'staging is empty');
  const dirs = existsSync(layout.imagesDir) ? readdirSync(layout.imagesDir) : [];
  assert.deepEqual(dirs.sort(), images.list().filter((i) => i.managed).map((i) => i.id).sort(), 'no image directory without a row');
}

/** Serves a bundle and returns its catalog source. */
async function serve(path: string, entries: BundleEntry[]): Promise<{ kind: 'bundle'; url: string; sha256: string; size: number }> {
  const body = await makeBundle(dir, entries);
  return { kind: 'bundle', url: server.set(path, { body }), sha256: sha256Of(body), size: body.length };
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'banger-catalog-pull-test-'));
  layout = resolveLayout({ env: { BANGER_HOME: join(dir, 'home') } });
  db = openStore(layout.dbPath);
  await server.start();
  const catalogs = new Catalogs({ images: imageCatalog(), kernels: kernelCatalog() });
  kernels = new KernelService({ db, layout, catalogs });
  images = new ImageService({
    db,
    layout,
    config,
    catalogs,
    recipes: builtinRecipes(),
    dockerConfig: join(dir, 'no-docker-config.json'),
    defaultKernel: (ctx) => kernels.ensureDefault(ctx),
    pullKernel: (name, ctx) => kernels.find(name) ?? kernels.pull(name, false, ctx),
  });
  reg = await startRegistry();
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'root'), { recursive: true });
  await mkdir(join(tree, 'etc'), { recursive: true });
  await writeFile(join(tree, 'root/.profile'), 'PS1=x\n');
  await writeFile(join(tree, 'etc/hostname'), 'bundle\n');
  await mkfsFromDir(join(dir, 'rootfs.ext4'), tree, { label: 'bundle', sizeBytes: 16 * 1024 * 1024 });
  rootfs = await readFile(join(dir, 'rootfs.ext4'));
  bz = await writeFakeBzImage(join(dir, 'bz'), '6.6.6-catalog');

  const kBundle = await serve('/k/default.tar.zst', [{ name: 'vmlinuz', content: bz }, { name: 'initrd.img', content: 'initrd' }]);
  await writeFile(kernelCatalog(), JSON.stringify({ schema: 1, kind: 'kernels', entries: [{ name: 'k-default', description: 'test default kernel', default: true, source: kBundle }] }));
  const entries = [
    { name: 'tiny', description: 'a bundle with its own kernel', distro: 'debian', source: await serve('/i/tiny.tar.zst', [{ name: 'rootfs.ext4', content: rootfs }, { name: 'vmlinuz', content: bz }, { name: 'initrd.img', content: 'initrd' }]) },
    { name: 'tiny-nokernel', description: 'a bundle that boots the default kernel', kernel: 'k-default', source: await serve('/i/nokernel.tar.zst', [{ name: 'rootfs.ext4', content: rootfs }]) },
    { name: 'tiny-auto', description: 'pulled by vm create', source: await serve('/i/auto.tar.zst', [{ name: 'rootfs.ext4', content: rootfs }, { name: 'vmlinuz', content: bz }]) },
    { name: 'no-rootfs', description: 'broken: no rootfs', source: await serve('/i/norootfs.tar.zst', [{ name: 'vmlinuz', content: bz }]) },
    { name: 'evil', description: 'broken: traversal', source: await serve('/i/evil.tar.zst', [{ name: 'rootfs.ext4', content: rootfs }, { name: '../../escaped', content: 'x' }]) },
    { name: 'gone', description: 'broken: 404', source: { kind: 'bundle', url: `${server.base}/i/gone.tar.zst`, sha256: 'b'.repeat(64), size: 10 } },
    { name: 'flaky', description: 'broken: 500', source: { kind: 'bundle', url: server.set('/i/flaky.tar.zst', { status: 500 }), sha256: 'b'.repeat(64), size: 10 } },
    { name: 'base', description: 'an OCI image without a kernel', source: { kind: 'oci', ref: `${reg.host}/team/catalog-base:v1` } },
  ];
  await writeFile(imageCatalog(), JSON.stringify({ schema: 1, kind: 'images', entries }));
  const layer = await layerBlob([{ name: 'etc/', type: 'directory' }, { name: 'etc/os-release', content: 'ID=debian\n' }, { name: 'root/', type: 'directory', mode: 0o700 }], 'zstd');
  await pushImage(reg.host, 'team/catalog-base', 'v1', [layer]);
});
after(async () => {
  if (skip) return;
  await server.stop();
  await reg.stop();
  db.close();
  await rm(dir, { recursive: true, force: true });
});

test('image pull NAME of a bundle entry: verified, unpacked, guest bits added; list --available marks it pulled', { skip }, async () => {
  const before = await images.available();
  assert.equal(before.find((e) => e.name === 'tiny')?.pulled, false);
  assert.equal(before.find((e) => e.name === 'base')?.from, `${reg.host}/team/catalog-base:v1`);
  const r = recording();
  const img = await images.pull({ ref: images.pullName({ ref: 'tiny' }) }, r.ctx);
  assert.equal(img.name, 'tiny');
  assert.equal(img.source, 'catalog:tiny');
  assert.equal(img.distro, 'debian');
  assert.deepEqual(r.stages.slice(0, 3), ['catalog', 'download', 'extract']);
  assert.ok(img.kernelPath && sha256Of(await readFile(img.kernelPath)) === sha256Of(bz), 'the bundle kernel');
  assert.equal(await readFile(img.initrdPath!, 'utf8'), 'initrd');
  assert.equal(await exists(img.rootfsPath, GUEST_BITS_MARKER), true, 'guest bits injected');
  assert.equal(await exists(img.rootfsPath, '/etc/hostname'), true, 'the bundle rootfs');
  assert.ok(img.workSeedPath && (await exists(img.workSeedPath, '/.profile')));
  const after = (await images.available()).find((e) => e.name === 'tiny');
  assert.deepEqual([after?.pulled, after?.localSizeBytes], [true, img.sizeBytes]);
  assert.throws(() => images.pullName({ ref: 'tiny' }), /already exists/);
  nothingLeft();
});

test('a bundle without a kernel boots the kernel its entry names, pulled from the kernel catalog', { skip }, async () => {
  const img = await images.pull({ ref: 'tiny-nokernel' }, quietContext());
  assert.equal(img.kernelRef, 'k-default');
  assert.equal(img.kernelPath, undefined);
  assert.equal(kernels.get('k-default').kernelVersion, '6.6.6-catalog');
  nothingLeft();
});

test('an OCI entry without a kernel in /boot gets the kernel catalog default', { skip }, async () => {
  const r = recording();
  const img = await images.pull({ ref: 'base' }, r.ctx);
  assert.equal(img.name, 'base');
  assert.match(img.source, /^oci:127\.0\.0\.1:\d+\/team\/catalog-base:v1@sha256:/);
  assert.equal(img.kernelRef, 'k-default');
  assert.ok(r.logs.some((m) => /it boots with k-default, the kernel catalog's default/.test(m)), r.logs.join(' | '));
  nothingLeft();
});

test('broken catalog entries fail clearly and leave nothing behind', { skip }, async () => {
  await rejectsWith(images.pull({ ref: 'no-rootfs' }, quietContext()), 'operation_failed', /holds no rootfs\.ext4/);
  nothingLeft();
  await rejectsWith(images.pull({ ref: 'evil' }, quietContext()), 'operation_failed', /entry "\.\.\/\.\.\/escaped" leaves the bundle/);
  assert.ok(!existsSync(join(layout.stagingDir, 'escaped')) && !existsSync(join(dir, 'home', 'escaped')));
  nothingLeft();
  await rejectsWith(images.pull({ ref: 'gone' }, quietContext()), 'not_found', /answered HTTP 404/);
  await rejectsWith(images.pull({ ref: 'flaky' }, quietContext()), 'unavailable', /answered HTTP 500/);
  await rejectsWith(images.pull({ ref: 'tiny-auto', size: '2G' }, quietContext()), 'bad_request', /--size does not apply to catalog image tiny-auto/);
  nothingLeft();
  assert.equal(images.find('no-rootfs') ?? images.find('evil') ?? images.find('gone'), undefined);
});

test('vm create/run resolve a missing image from the catalog, then as an OCI reference; a miss says where it looked', { skip }, async () => {
  const resolver = imageResolver(images, kernels, 'debian-bookworm');
  const r = recording();
  const a = await resolver.resolveForVM('tiny-auto', r.ctx);
  assert.equal(a.name, 'tiny-auto');
  assert.ok(r.stages.includes('download'), 'the stages of the pull are reported');
  assert.ok(r.logs.some((m) => /pulling it from the image catalog \(bundle\)/.test(m)));
  assert.equal((await resolver.resolveForVM('tiny-auto', quietContext())).id, a.id, 'the second time it is local');

  const ref = `${reg.host}/team/catalog-base:v1`;
  const o = await resolver.resolveForVM(ref, quietContext());
  assert.equal(o.name, 'catalog-base-v1');
  assert.equal(o.kernelPath, kernels.get('k-default').kernelPath, 'the kernel is resolved to its files');
  const again = recording();
  assert.equal((await resolver.resolveForVM(ref, again.ctx)).id, o.id, 'found under its derived name');
  assert.deepEqual(again.stages, []);

  await rejectsWith(
    resolver.resolveForVM('nope', quietContext()),
    'not_found',
    /image "nope" not found; looked in local images \([^)]*tiny[^)]*\); the image catalog \([^:]*images\.json: no entry nope\); OCI registries \(not tried for a bare name[^)]*\); local recipes \(debian-bookworm\)/,
  );
  await rejectsWith(resolver.resolveForVM(`${reg.host}/team/absent:v1`, quietContext()), 'not_found', /absent/);
  nothingLeft();
});
