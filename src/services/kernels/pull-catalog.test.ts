import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { BangerError } from '../../api/errors.js';
import { resolveLayout, type Layout } from '../../config/paths.js';
import { openStore } from '../../store/db.js';
import { which } from '../../system/exec.js';
import { quietContext } from '../op-context.js';
import { Catalogs } from '../artifacts/catalog/load.js';
import { sha256File } from '../artifacts/digest.js';
import { CatalogServer, makeBundle, sha256Of, type BundleEntry } from '../../testing/catalog-server.js';
import { KernelService } from './kernel-service.js';
import { writeFakeBzImage } from './fixtures.js';
import builtin from '../artifacts/catalog/kernels.json' with { type: 'json' };

let dir = '';
let layout: Layout;
let db: Database;
let svc: KernelService;
const server = new CatalogServer();
const catalogPath = () => join(dir, 'kernels.json');
const zstdMissing: string | false = which('zstd') ? false : 'zstd is not installed';

interface Entry {
  name: string;
  kind: 'bundle' | 'deb';
  path: string;
  body: Buffer;
  /** What the catalog claims, when it differs from the body. */
  sha256?: string;
  size?: number;
  default?: boolean;
}

async function writeCatalog(entries: Entry[]): Promise<void> {
  await writeFile(
    catalogPath(),
    JSON.stringify({
      schema: 1,
      kind: 'kernels',
      entries: entries.map((e) => ({
        name: e.name,
        description: `test kernel ${e.name}`,
        ...(e.default ? { default: true } : {}),
        source: { kind: e.kind, url: server.base + e.path, sha256: e.sha256 ?? sha256Of(e.body), size: e.size ?? e.body.length },
      })),
    }),
  );
}

let bz: Buffer;
async function bundle(entries: BundleEntry[]): Promise<Buffer> {
  return makeBundle(dir, entries);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-kernel-pull-test-'));
  layout = resolveLayout({ env: { BANGER_HOME: join(dir, 'home') } });
  db = openStore(layout.dbPath);
  await server.start();
  svc = new KernelService({ db, layout, catalogs: new Catalogs({ images: '', kernels: catalogPath() }) });
  bz = await writeFakeBzImage(join(dir, 'bz'), '6.6.6-bundle');
});
after(async () => {
  await server.stop();
  db.close();
  await rm(dir, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BangerError, `expected a BangerError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(`${err.message}\n${err.hint ?? ''}`, re);
    return true;
  });
}

/** Nothing is left: no staging directory, no kernel directory, no row. */
function nothingLeft(name: string): void {
  assert.ok(!existsSync(layout.stagingDir) || readdirSync(layout.stagingDir).length === 0, `staging is empty: ${existsSync(layout.stagingDir) ? readdirSync(layout.stagingDir).join(', ') : ''}`);
  assert.ok(!existsSync(join(layout.kernelsDir, name)), `no ${name} directory`);
  assert.equal(svc.find(name), undefined);
}

test('the built-in kernel catalog loads and names the Debian cloud kernel by URL, sha256 and size', async () => {
  const cat = await new Catalogs({ images: '', kernels: '' }).kernels();
  assert.equal(cat.origin, 'built in');
  const def = cat.entries.find((e) => e.default);
  assert.ok(def, 'a default kernel');
  assert.equal(def.source.kind, 'deb');
  assert.match(def.source.url, /^http:\/\/deb\.debian\.org\/debian(-security)?\/pool\/.*\/linux-image-[0-9.-]+-cloud-amd64_[^/]+_amd64\.deb$/);
  // When the host's apt cache holds the same package, the catalog's sha256 and size are its.
  const cached = join('/var/cache/apt/archives', def.source.url.split('/').pop()!);
  if (existsSync(cached)) {
    assert.equal((await stat(cached)).size, def.source.size);
    assert.equal(await sha256File(cached), def.source.sha256);
  }
  assert.deepEqual(builtin.entries.map((e) => e.name), cat.entries.map((e) => e.name));
});

test('kernel pull of a good bundle stores vmlinuz, initrd and modules; list --available marks it pulled', { skip: zstdMissing }, async () => {
  const body = await bundle([
    { name: 'vmlinuz', content: bz },
    { name: 'initrd.img', content: 'initrd bytes' },
    { name: 'modules', type: 'directory' },
    { name: 'modules/kernel', type: 'directory' },
    { name: 'modules/kernel/virtio.ko', content: 'module' },
  ]);
  await writeCatalog([{ name: 'good', kind: 'bundle', path: '/good.tar.zst', body }, { name: 'other', kind: 'bundle', path: '/other.tar.zst', body }]);
  server.set('/good.tar.zst', { body });
  assert.deepEqual((await svc.available()).map((k) => [k.name, k.pulled, k.sizeBytes]), [['good', false, body.length], ['other', false, body.length]]);
  const k = await svc.pull('good', false, quietContext());
  assert.equal(k.kernelVersion, '6.6.6-bundle');
  assert.equal(k.sha256, sha256Of(bz));
  assert.equal(await readFile(k.initrdPath!, 'utf8'), 'initrd bytes');
  assert.equal(await readFile(join(k.modulesPath!, 'kernel', 'virtio.ko'), 'utf8'), 'module');
  assert.match(k.source, /^catalog:good/);
  assert.deepEqual((await svc.available()).map((x) => [x.name, x.pulled]), [['good', true], ['other', false]]);
  await rejectsWith(svc.pull('good', false, quietContext()), 'already_exists', /--force/);

  // --force downloads again and replaces it.
  const bz2 = await writeFakeBzImage(join(dir, 'bz2'), '6.6.7-bundle');
  const body2 = await bundle([{ name: 'vmlinuz', content: bz2 }]);
  await writeCatalog([{ name: 'good', kind: 'bundle', path: '/good2.tar.zst', body: body2 }]);
  server.set('/good2.tar.zst', { body: body2 });
  const k2 = await svc.pull('good', true, quietContext());
  assert.equal(k2.kernelVersion, '6.6.7-bundle');
  assert.equal(k2.initrdPath, undefined);
  assert.ok(!existsSync(join(layout.kernelsDir, 'good', 'initrd.img')), 'the old files are gone');
  assert.deepEqual(svc.list().map((x) => x.name), ['good']);
  nothingLeft('never-pulled');
});

test('a bad download or bundle fails with a clear error and leaves nothing behind', { skip: zstdMissing }, async () => {
  const good = await bundle([{ name: 'vmlinuz', content: bz }]);
  const cases: { name: string; entry: Partial<Entry>; serve: Parameters<CatalogServer['set']>[1]; code: string; re: RegExp }[] = [
    { name: 'sha', entry: { body: good, sha256: 'a'.repeat(64) }, serve: { body: good }, code: 'operation_failed', re: /has sha256 [0-9a-f]{64}, the catalog says a{64}/ },
    { name: 'truncated', entry: { body: good }, serve: { body: good, cut: 100 }, code: 'operation_failed', re: /truncated: 100 of \d+ bytes/ },
    { name: 'longer', entry: { body: good, size: 50 }, serve: { body: good }, code: 'operation_failed', re: /is \d+ bytes, the catalog says 50/ },
    { name: 'missing', entry: { body: good }, serve: { status: 404 }, code: 'not_found', re: /answered HTTP 404[^]*out of date/ },
    { name: 'broken', entry: { body: good }, serve: { status: 500 }, code: 'unavailable', re: /answered HTTP 500/ },
  ];
  const traversal = await bundle([{ name: 'vmlinuz', content: bz }, { name: '../evil', content: 'x' }]);
  const absolute = await bundle([{ name: '/etc/evil', content: 'x' }]);
  const link = await bundle([{ name: 'vmlinuz', type: 'symlink', linkname: '/etc/passwd' }]);
  const nokernel = await bundle([{ name: 'initrd.img', content: 'just an initrd' }]);
  const stray = await bundle([{ name: 'vmlinuz', content: bz }, { name: 'README', content: 'hi' }]);
  const notzstd = Buffer.from('this is not a zstd stream at all');
  for (const [name, body, re] of [
    ['traversal', traversal, /entry "\.\.\/evil" leaves the bundle/],
    ['absolute', absolute, /entry "\/etc\/evil" leaves the bundle/],
    ['link', link, /entry "vmlinuz" is a symlink/],
    ['nokernel', nokernel, /holds no vmlinuz or vmlinux/],
    ['stray', stray, /entry "README" is not a file a bundle holds/],
    ['notzstd', notzstd, /not a valid zstd stream/],
  ] as const) {
    cases.push({ name, entry: { body }, serve: { body }, code: 'operation_failed', re });
  }
  await writeCatalog(cases.map((c) => ({ name: c.name, kind: 'bundle', path: `/${c.name}.tar.zst`, body: c.entry.body!, ...c.entry })));
  for (const c of cases) server.set(`/${c.name}.tar.zst`, c.serve);
  for (const c of cases) {
    await rejectsWith(svc.pull(c.name, false, quietContext()), c.code, c.re);
    nothingLeft(c.name);
  }
  assert.ok(!existsSync(join(dir, 'evil')) && !existsSync(join(layout.kernelsDir, 'evil')), 'the traversal entry was written nowhere');
  await rejectsWith(svc.pull('absent', false, quietContext()), 'not_found', /not in the kernel catalog[^]*available: sha, truncated/);
});

test('catalog documents are validated when loaded', async () => {
  const bad: [unknown, RegExp][] = [
    [{ schema: 2, kind: 'kernels', entries: [] }, /schema 2; this banger reads schema 1/],
    [{ schema: 1, kind: 'images', entries: [] }, /kind must be "kernels"/],
    [{ schema: 1, kind: 'kernels', entries: [{ name: 'a', description: 'd', source: { kind: 'deb', url: 'ftp://x/y', sha256: 'a'.repeat(64), size: 1 } }] }, /url must be http or https/],
    [{ schema: 1, kind: 'kernels', entries: [{ name: 'a', description: 'd', source: { kind: 'deb', url: 'http://x/y', sha256: 'abc', size: 1 } }] }, /sha256 must be 64/],
    [{ schema: 1, kind: 'kernels', entries: [{ name: 'a', description: 'd', extra: 1, source: { kind: 'deb', url: 'http://x/y', sha256: 'a'.repeat(64), size: 1 } }] }, /unknown field "extra"/],
    [{ schema: 1, kind: 'kernels', entries: [{ name: '../a', description: 'd', source: { kind: 'deb', url: 'http://x/y', sha256: 'a'.repeat(64), size: 1 } }] }, /name "\.\.\/a" must be/],
    ['{not json', /not JSON/],
  ];
  for (const [doc, re] of bad) {
    await writeFile(catalogPath(), typeof doc === 'string' ? doc : JSON.stringify(doc));
    await rejectsWith(svc.available(), 'bad_request', re);
  }
  await rejectsWith(new Catalogs({ images: '', kernels: `${server.base}/no-catalog.json` }).kernels(), 'unavailable', /answered HTTP 404[^]*kernel_catalog_url/);
  await writeFile(catalogPath(), JSON.stringify({ schema: 1, kind: 'kernels', entries: [] }));
  server.set('/catalog.json', { body: await readFile(catalogPath()) });
  assert.equal((await new Catalogs({ images: '', kernels: `${server.base}/catalog.json` }).kernels()).origin, `${server.base}/catalog.json`);
});

const debSkip = (): string | false => {
  const deb = builtin.entries[0]!.source.url.split('/').pop()!;
  return existsSync(join('/var/cache/apt/archives', deb)) ? false : `no ${deb} in the apt cache`;
};

test('kernel pull of a Debian kernel package served on loopback builds the kernel with an initramfs', { skip: debSkip() }, async () => {
  const entry = builtin.entries[0]!;
  const body = await readFile(join('/var/cache/apt/archives', entry.source.url.split('/').pop()!));
  await writeCatalog([{ name: 'deb-kernel', kind: 'deb', path: '/pool/linux-image.deb', body, sha256: entry.source.sha256, size: entry.source.size, default: true }]);
  server.set('/pool/linux-image.deb', { body });
  const stages: string[] = [];
  let lastProgress = 0;
  const ctx = { ...quietContext(), stage: <T>(id: string, _l: string, fn: () => Promise<T>) => (stages.push(id), fn()), progress: (n: number) => void (lastProgress = n) };
  const k = await svc.ensureDefault(ctx);
  assert.ok(k);
  assert.equal(k.name, 'deb-kernel');
  assert.deepEqual(stages.slice(0, 3), ['catalog', 'download', 'extract']);
  assert.equal(lastProgress > 0, true);
  assert.match(k.kernelVersion, /^6\.1\.0-\d+-cloud-amd64/);
  assert.ok(k.initrdPath && existsSync(k.initrdPath), 'banger built an initramfs');
  assert.match(k.source, /^catalog:deb-kernel deb:linux-image-6\.1\.0-\d+-cloud-amd64_/);
  assert.equal((await svc.ensureDefault(quietContext()))?.importedAt, k.importedAt, 'the second call finds it');
  nothingLeft('absent');
});
