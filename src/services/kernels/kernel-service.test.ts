import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Database } from 'better-sqlite3';
import { BangerError } from '../../api/errors.js';
import { resolveLayout, type Layout } from '../../config/paths.js';
import { openStore } from '../../store/db.js';
import { ImageRepository } from '../../store/images.js';
import { run, runUnchecked, which } from '../../system/exec.js';
import { sha256File } from '../artifacts/digest.js';
import { inspectKernel } from '../artifacts/kernel-file.js';
import { KernelService } from './kernel-service.js';
import { buildDeb, writeFakeBzImage } from './fixtures.js';

let dir = '';
let layout: Layout;
let db: Database;
let svc: KernelService;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-kernels-test-'));
  layout = resolveLayout({ env: { BANGER_HOME: join(dir, 'home') } });
  db = openStore(layout.dbPath);
  svc = new KernelService({ db, layout });
});
after(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BangerError, `expected a BangerError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return true;
  });
}

function stagingEmpty(): boolean {
  return !existsSync(layout.stagingDir) || readdirSync(layout.stagingDir).length === 0;
}

test('inspectKernel recognises bzImages and rejects other files', async () => {
  const bz = join(dir, 'bz');
  await writeFakeBzImage(bz, '6.1.0-test');
  assert.deepEqual(await inspectKernel(bz), { format: 'bzImage', version: '6.1.0-test' });
  const txt = join(dir, 'txt');
  await writeFile(txt, 'not a kernel at all');
  assert.equal(await inspectKernel(txt), undefined);
  assert.equal(await inspectKernel('/bin/sh'), undefined, 'an ordinary ELF executable is not a kernel');
  assert.equal(await inspectKernel(join(dir, 'absent')), undefined);
});

test('importFiles stores the kernel and initrd with sha256', async () => {
  const bz = join(dir, 'vmlinuz-files');
  await writeFakeBzImage(bz, '9.9.1-files');
  const initrd = join(dir, 'initrd-files');
  await writeFile(initrd, 'initrd bytes');
  const k = await svc.importFiles('files-kernel', { kernel: bz, initrd });
  assert.equal(k.kernelVersion, '9.9.1-files');
  assert.equal(k.kernelPath, join(layout.kernelsDir, 'files-kernel', 'vmlinuz'));
  assert.equal(k.sha256, await sha256File(bz));
  assert.equal(k.sha256, await sha256File(k.kernelPath));
  assert.equal(k.initrdSha256, await sha256File(initrd));
  const manifest = JSON.parse(await readFile(join(layout.kernelsDir, 'files-kernel', 'manifest.json'), 'utf8')) as { sha256: string };
  assert.equal(manifest.sha256, k.sha256);
  assert.deepEqual(svc.list().map((x) => x.name), ['files-kernel']);
  assert.equal(svc.get('files-kernel').sha256, k.sha256);
  await rejectsWith(svc.importFiles('files-kernel', { kernel: bz }), 'already_exists');
  assert.ok(stagingEmpty());
});

test('importFiles refuses files that are not kernels, relative paths and bad names', async () => {
  const txt = join(dir, 'not-a-kernel');
  await writeFile(txt, 'hello');
  await rejectsWith(svc.importFiles('nk', { kernel: txt }), 'bad_request', /not a Linux kernel/);
  await rejectsWith(svc.importFiles('nk', { kernel: 'relative/vmlinuz' }), 'bad_request', /not absolute/);
  await rejectsWith(svc.importFiles('nk', { kernel: join(dir, 'missing') }), 'bad_request', /does not exist/);
  for (const name of ['../evil', 'a/b', '', '.hidden', 'x'.repeat(70)]) {
    await rejectsWith(svc.importFiles(name, { kernel: txt }), 'bad_request');
  }
  assert.equal(svc.find('nk'), undefined);
  assert.ok(!existsSync(join(layout.kernelsDir, 'nk')));
});

test('get and remove', async () => {
  await rejectsWith(Promise.resolve().then(() => svc.get('nope')), 'not_found', /nope/);
  const bz = join(dir, 'vmlinuz-rm');
  await writeFakeBzImage(bz);
  await svc.importFiles('rm-me', { kernel: bz });
  const images = new ImageRepository(db);
  images.insert({
    id: 'img0000000000001', name: 'uses-kernel', managed: false, distro: '', arch: 'x86_64', source: 'register',
    rootfsPath: '/x', kernelRef: 'rm-me', sizeBytes: 0, createdAt: new Date().toISOString(), meta: {},
  });
  await rejectsWith(svc.remove('rm-me'), 'bad_request', /uses-kernel/);
  images.delete('img0000000000001');
  await svc.remove('rm-me');
  assert.equal(svc.find('rm-me'), undefined);
  assert.ok(!existsSync(join(layout.kernelsDir, 'rm-me')));
  await rejectsWith(svc.remove('rm-me'), 'not_found');
});

const dpkg = which('dpkg-deb') ? false : 'dpkg-deb is not installed';

test('importDeb refuses a package that is not a kernel package', { skip: dpkg }, async () => {
  const deb = await buildDeb(dir, { package: 'hello-banger', files: { 'usr/share/doc/hello-banger/README': 'hi\n' } });
  await rejectsWith(svc.importDeb('notkernel', deb), 'bad_request', /hello-banger is not a kernel package/);
  const junk = join(dir, 'junk.deb');
  await writeFile(junk, 'not an ar archive');
  await rejectsWith(svc.importDeb('junk', junk), 'bad_request', /not a Debian package/);
  await rejectsWith(svc.importDeb('rel', 'relative/x.deb'), 'bad_request', /not absolute/);
  assert.equal(svc.find('notkernel'), undefined);
  assert.ok(stagingEmpty(), 'staging is cleaned up');
});

/** Real modules from the host's Debian kernel, when one is installed. */
async function hostModules(): Promise<{ version: string; dir: string } | undefined> {
  const base = '/lib/modules';
  for (const v of (await readdir(base).catch(() => [] as string[])).sort()) {
    const d = join(base, v, 'kernel/drivers');
    if (existsSync(join(d, 'block/virtio_blk.ko')) && existsSync(join(d, 'virtio/virtio.ko')) && existsSync(join(d, 'virtio/virtio_ring.ko'))) {
      return { version: v, dir: join(base, v) };
    }
  }
  return undefined;
}

test('importDeb builds an initramfs with busybox, /init and the modules in dependency order', { skip: dpkg || (!which('cpio') && 'cpio is not installed') || (!which('busybox') && 'busybox is not installed') }, async (t) => {
  const mods = await hostModules();
  const version = '9.9.9-test';
  let builtin = 'kernel/fs/ext4/ext4.ko\n';
  const files: Record<string, string | Buffer | { copy: string }> = {
    [`boot/vmlinuz-${version}`]: await writeFakeBzImage(join(dir, 'fake-bz'), version),
  };
  if (mods) {
    for (const m of ['block/virtio_blk.ko', 'virtio/virtio.ko', 'virtio/virtio_ring.ko']) {
      files[`lib/modules/${version}/kernel/drivers/${m}`] = { copy: join(mods.dir, 'kernel/drivers', m) };
    }
  } else {
    builtin += 'kernel/drivers/block/virtio_blk.ko\n';
    t.diagnostic('no host kernel modules found: the initramfs is built without modules');
  }
  files[`lib/modules/${version}/modules.builtin`] = builtin;
  const deb = await buildDeb(dir, { package: 'linux-image-9.9.9-test', version: '9.9.9-1', files });
  const k = await svc.importDeb('deb-kernel', deb);
  assert.equal(k.kernelVersion, version);
  assert.equal(k.distro, 'debian');
  assert.equal(k.source, 'deb:linux-image-9.9.9-test_9.9.9-1');
  assert.ok(k.initrdPath && k.initrdSha256);
  assert.equal(k.initrdSha256, await sha256File(k.initrdPath));
  assert.equal(k.sha256, await sha256File(k.kernelPath));
  const cpio = gunzipSync(await readFile(k.initrdPath));
  const listing = (await run(['cpio', '-t', '--quiet'], { input: cpio })).stdout.split('\n');
  for (const f of ['init', 'bin/busybox', 'lib/modules/banger/order']) assert.ok(listing.includes(f), `initramfs has ${f}`);
  const extract = join(dir, 'initramfs-x');
  await mkdir(extract, { recursive: true });
  await run(['cpio', '-i', '--quiet', '-d', '--no-absolute-filenames', 'lib/modules/banger/order', 'init'], { input: cpio, cwd: extract });
  const order = (await readFile(join(extract, 'lib/modules/banger/order'), 'utf8')).trim().split('\n').filter(Boolean);
  if (mods) {
    assert.deepEqual(order, ['virtio_ring', 'virtio', 'virtio_blk']);
    for (const m of order) assert.ok(listing.includes(`lib/modules/banger/${m}.ko`));
  } else {
    assert.deepEqual(order, []);
  }
  const init = await readFile(join(extract, 'init'), 'utf8');
  assert.match(init, /switch_root \/newroot/);
  const syntax = await runUnchecked(['sh', '-n', join(extract, 'init')]);
  assert.equal(syntax.code, 0, syntax.stderr);
  assert.ok(existsSync(join(layout.kernelsDir, 'deb-kernel', 'modules')));
});

const aptReady = async (): Promise<string | false> => {
  if (!which('apt-get') || !which('apt-cache')) return 'apt-get is not installed';
  const r = await runUnchecked(['apt-cache', 'show', 'linux-image-cloud-amd64']);
  return r.code === 0 ? false : "linux-image-cloud-amd64 is not in apt's lists (apt-get update)";
};

test('importDeb by package name follows the meta package to the real kernel', { skip: dpkg, timeout: 300_000 }, async (t) => {
  const reason = await aptReady();
  if (reason) return t.skip(reason);
  const k = await svc.importDeb('cloud', 'linux-image-cloud-amd64');
  assert.match(k.kernelVersion, /^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
  assert.match(k.source, /^deb:linux-image-\d.*-cloud-amd64_/);
  assert.equal(k.sha256, await sha256File(k.kernelPath));
  const manifest = JSON.parse(await readFile(join(layout.kernelsDir, 'cloud', 'manifest.json'), 'utf8')) as { initramfsModules: string[] };
  for (const m of ['virtio_blk', 'virtio_net', 'virtio_pci', 'virtio_console', 'vmw_vsock_virtio_transport']) {
    assert.ok(manifest.initramfsModules.includes(m), `initramfs loads ${m}`);
  }
  await rejectsWith(svc.importDeb('nope', 'banger-no-such-package'), 'not_found', /banger-no-such-package/);
});
