/**
 * The warm pool's decisions, without booting a guest: which template a create restores from (or why
 * it boots cold), the fingerprint that makes a changed image's template stale, builds and their
 * replacement, --clear, and the sweep of half-built templates at daemon start. A real store and real
 * directories; the booting and saving (PoolHost) is played by the test, and the fake driver shows the
 * pool staying out of drivers other than qemu. The real restore from a template runs in
 * src/e2e/warm.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageInfo, VMSpec } from '../../api/types.js';
import { resolveLayout } from '../../config/paths.js';
import { snapshotFiles } from '../../model/filenames.js';
import { isPoolName } from '../../model/vm-name.js';
import { openStore } from '../../store/db.js';
import { SnapshotRepo, type SnapshotRow } from '../../store/snapshots.js';
import { VMRepo, type VMRow } from '../../store/vms.js';
import { createLogger } from '../../system/logger.js';
import { fakeWorld } from '../../testing/fake-services.js';
import { quietContext, type OpContext } from '../op-context.js';
import { SNAPSHOT_FORMAT, type PoolMeta, type SnapshotManifest } from './snapshot-manifest.js';
import { chooseTemplate, fingerprintOf, fingerprintParts, poolIneligible, poolKey, WarmPool, type PoolHost } from './warm-pool.js';

const QEMU = { name: 'qemu', version: 'qemu 7.2.0', accel: 'tcg' };
const SPEC: VMSpec = { vcpu: 1, memoryMiB: 512, diskSizeBytes: 1024 ** 3, rootSizeBytes: 8 * 1024 ** 3, nat: false };

function imageIn(dir: string, id = 'img000000001'): ImageInfo {
  for (const f of ['rootfs.ext4', 'vmlinuz', 'initrd.img']) if (!existsSync(join(dir, f))) writeFileSync(join(dir, f), f);
  return { id, name: 'deb', managed: false, distro: 'debian', arch: 'amd64', source: 'registered', rootfsPath: join(dir, 'rootfs.ext4'), kernelPath: join(dir, 'vmlinuz'), initrdPath: join(dir, 'initrd.img'), sizeBytes: 1, createdAt: '', meta: {} };
}

function manifest(id: string, image: ImageInfo, spec: VMSpec, pool?: PoolMeta): SnapshotManifest {
  return {
    format: SNAPSHOT_FORMAT,
    id,
    name: `_pool-${id}`,
    createdAt: new Date().toISOString(),
    source: { vmId: 'x', vmName: '_pool-x' },
    image: { id: image.id, name: image.name },
    driver: { driver: 'qemu', version: QEMU.version, accel: 'tcg', memoryBytes: 1 },
    machine: { vcpu: spec.vcpu, memoryMiB: spec.memoryMiB, diskSizeBytes: spec.diskSizeBytes, ...(spec.rootSizeBytes !== undefined ? { rootSizeBytes: spec.rootSizeBytes } : {}), kernelPath: image.kernelPath!, cmdline: '', network: 'user' },
    disks: [{ role: 'work', file: 'work.ext4', format: 'raw', serial: 'work' }],
    memory: { file: 'memory.bin', bytes: 1, sha256: '' },
    hostKeyFile: 'host_key.pub',
    ...(pool ? { pool } : {}),
  };
}

function template(dir: string, id: string, image: ImageInfo, spec: VMSpec, fingerprint: string, extra: Partial<PoolMeta> = {}): SnapshotRow {
  const m = manifest(id, image, spec, { key: poolKey(image.id, spec), fingerprint, parts: {}, ...extra });
  return { id, name: m.name, sourceVmId: 'x', sourceVmName: '_pool-x', imageId: image.id, dir: join(dir, id), manifest: m, createdAt: m.createdAt };
}

describe('warm pool decisions', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync('/tmp/bwp-');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the fingerprint changes when the kernel, the rootfs, the driver version or the image changes, and only then', () => {
    const img = imageIn(dir);
    const fp = fingerprintOf(fingerprintParts(img, QEMU));
    assert.equal(fingerprintOf(fingerprintParts(img, QEMU)), fp, 'same inputs, same fingerprint');
    assert.notEqual(fingerprintOf(fingerprintParts(img, { ...QEMU, version: 'qemu 8.0.0' })), fp);
    assert.notEqual(fingerprintOf(fingerprintParts({ ...img, id: 'img000000002' }, QEMU)), fp);
    const later = new Date(Date.now() + 60_000);
    utimesSync(img.kernelPath!, later, later);
    const afterKernel = fingerprintOf(fingerprintParts(img, QEMU));
    assert.notEqual(afterKernel, fp, 'a replaced kernel makes the template stale');
    writeFileSync(img.rootfsPath, 'rebuilt rootfs');
    assert.notEqual(fingerprintOf(fingerprintParts(img, QEMU)), afterKernel, 'a rebuilt rootfs makes the template stale');
  });

  it('restores only from a fresh template of the same image and shape; otherwise says why it boots cold', () => {
    const img = imageIn(dir);
    const fresh = template(dir, 'aaaaaaaaaaaa', img, SPEC, 'fp-now');
    assert.equal((chooseTemplate([], img.id, SPEC, 'fp-now') as { cold: string }).cold, 'no warm pool template for this image and shape yet');
    assert.deepEqual(chooseTemplate([fresh], img.id, SPEC, 'fp-now'), { use: fresh });
    assert.match((chooseTemplate([template(dir, 'bbbbbbbbbbbb', img, SPEC, 'fp-old')], img.id, SPEC, 'fp-now') as { cold: string }).cold, /stale/);
    assert.match((chooseTemplate([fresh], img.id, { ...SPEC, vcpu: 2 }, 'fp-now') as { cold: string }).cold, /no warm pool template/, 'another shape boots cold');
    assert.match((chooseTemplate([fresh], img.id, { ...SPEC, memoryMiB: 1024 }, 'fp-now') as { cold: string }).cold, /no warm pool template/);
    assert.match((chooseTemplate([fresh], 'img000000009', SPEC, 'fp-now') as { cold: string }).cold, /no warm pool template/, 'another image boots cold');
    assert.deepEqual(chooseTemplate([fresh], img.id, { ...SPEC, diskSizeBytes: 4 * 1024 ** 3 }, 'fp-now'), { use: fresh }, 'a larger work disk is grown after restore');
    assert.match((chooseTemplate([fresh], img.id, { ...SPEC, diskSizeBytes: 256 * 1024 ** 2 }, 'fp-now') as { cold: string }).cold, /larger work disk/);
    assert.match((chooseTemplate([fresh], img.id, { ...SPEC, rootSizeBytes: 16 * 1024 ** 3 }, 'fp-now') as { cold: string }).cold, /root size/);
    const retired = template(dir, 'cccccccccccc', img, SPEC, 'fp-now', { retired: true });
    assert.match((chooseTemplate([retired], img.id, SPEC, 'fp-now') as { cold: string }).cold, /no warm pool template/, 'a retired template is never used');
  });

  it('--cold, warm_pool = false, other drivers and bridge mode skip the pool', () => {
    const base = { enabled: true, req: {}, driver: 'qemu', driverSnapshots: true, network: 'user' as const };
    assert.equal(poolIneligible(base), undefined);
    assert.equal(poolIneligible({ ...base, req: { cold: true } }), '--cold');
    assert.match(poolIneligible({ ...base, enabled: false }) ?? '', /warm_pool is off/);
    assert.match(poolIneligible({ ...base, driver: 'firecracker', driverSnapshots: false }) ?? '', /qemu and firecracker drivers only \(this VM runs with firecracker\)/);
    assert.match(poolIneligible({ ...base, driver: 'fake' }) ?? '', /qemu and firecracker drivers only \(this VM runs with fake\)/);
    assert.match(poolIneligible({ ...base, network: 'bridge' }) ?? '', /user-mode QEMU VMs only/);
    const fc = { ...base, driver: 'firecracker', network: 'bridge' as const, guestChannel: true };
    assert.equal(poolIneligible(fc), undefined, 'firecracker in bridge mode is served (restored VMs are re-addressed)');
    assert.match(poolIneligible({ ...fc, guestChannel: false }) ?? '', /firecracker VMs in bridge mode with a guest channel only/);
    assert.match(poolIneligible({ ...fc, egress: true }) ?? '', /without --nat or --allow/);
    assert.match(poolIneligible({ ...base, egress: true }) ?? '', /without --nat or --allow/);
    assert.equal(poolIneligible({ ...base, req: { fromSnapshot: 'warm' } }), 'not a pool start');
    assert.equal(poolIneligible({ ...base, req: { noStart: true } }), 'not a pool start');
  });
});

/** A pool over a real store whose host "boots" by inserting a VM row and "saves" by writing a directory. */
function poolWorld() {
  const home = mkdtempSync('/tmp/bwq-');
  const layout = resolveLayout({ env: { BANGER_HOME: home } });
  mkdirSync(layout.snapshotsDir, { recursive: true });
  const db = openStore(layout.dbPath);
  const repo = new VMRepo(db);
  const snapshots = new SnapshotRepo(db);
  const images = new Map<string, ImageInfo>();
  const calls: string[] = [];
  let gate: Promise<void> = Promise.resolve();
  const host: PoolHost = {
    bootHidden: async (name: string, image: ImageInfo, spec: VMSpec, ctx: OpContext) => {
      calls.push(`boot ${name}`);
      const now = new Date().toISOString();
      const row: VMRow = { id: name.slice(-12), name, imageId: image.id, state: 'running', spec, runtime: {}, createdAt: now, updatedAt: now };
      repo.insert(row);
      await gate;
      if (ctx.signal.aborted) {
        repo.delete(row.id);
        throw new Error('cancelled');
      }
      return row.id;
    },
    saveHidden: (vmId, snap) => {
      calls.push(`save ${snap.name}`);
      const vm = repo.get(vmId)!;
      const sf = snapshotFiles(layout.snapshotsDir, snap.id);
      mkdirSync(sf.dir, { recursive: true });
      writeFileSync(sf.memory, 'state');
      const m = { ...manifest(snap.id, images.get(vm.imageId)!, vm.spec), pool: snap.pool };
      return Promise.resolve({ id: snap.id, name: snap.name, sourceVmId: vmId, sourceVmName: vm.name, imageId: vm.imageId, dir: sf.dir, manifest: m, createdAt: m.createdAt });
    },
    removeVM: (vmId) => {
      calls.push(`remove ${vmId}`);
      repo.delete(vmId);
      return Promise.resolve();
    },
  };
  const logger = createLogger(join(home, 'daemon.log'), 'debug');
  const pool = new WarmPool({ snapshots, repo, layout, logger, config: {} as never, images: { byId: (id) => images.get(id), resolveForVM: () => Promise.reject(new Error('unused')) } }, host);
  return {
    home,
    layout,
    repo,
    snapshots,
    images,
    calls,
    pool,
    hold: () => {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => release();
    },
    settle: async () => {
      for (let i = 0; i < 100 && pool.list(() => undefined).some((t) => t.status === 'building'); i++) await new Promise((r) => setTimeout(r, 10));
    },
    close: () => {
      db.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

describe('warm pool builds, clear and sweep', () => {
  it('builds one hidden template per image and shape, never shown as a snapshot, and rebuilds a stale one', async () => {
    const w = poolWorld();
    try {
      const img = imageIn(w.home);
      w.images.set(img.id, img);
      const parts = fingerprintParts(img, QEMU);
      w.pool.afterColdBoot(img, SPEC, { fingerprint: fingerprintOf(parts), parts });
      w.pool.afterColdBoot(img, SPEC, { fingerprint: fingerprintOf(parts), parts });
      await w.settle();
      assert.equal(w.calls.filter((c) => c.startsWith('boot')).length, 1, 'one build per image and shape, however many cold boots');
      const [t] = w.snapshots.poolTemplates();
      assert.ok(t && isPoolName(t.name));
      assert.deepEqual(w.snapshots.list(), [], 'templates are not user snapshots');
      assert.equal(w.snapshots.byName(t.name), undefined);
      assert.deepEqual(w.repo.list().filter((r) => isPoolName(r.name)), [], 'the build VM is removed');
      assert.deepEqual(w.pool.list(() => fingerprintOf(parts)).map((x) => x.status), ['ready']);
      assert.ok('use' in chooseTemplate(w.pool.templates(), img.id, SPEC, fingerprintOf(parts)), 'the fresh template is chosen');

      // The kernel is replaced: the template is stale, never chosen, and the next cold boot rebuilds it.
      const later = new Date(Date.now() + 120_000);
      utimesSync(img.kernelPath!, later, later);
      const now = fingerprintParts(img, QEMU);
      assert.deepEqual(w.pool.list(() => fingerprintOf(now)).map((x) => x.status), ['stale']);
      assert.match((chooseTemplate(w.pool.templates(), img.id, SPEC, fingerprintOf(now)) as { cold: string }).cold, /stale/);
      w.pool.afterColdBoot(img, SPEC, { fingerprint: fingerprintOf(now), parts: now });
      await w.settle();
      const after = w.snapshots.poolTemplates();
      assert.equal(after.length, 1, 'the stale template was replaced');
      assert.notEqual(after[0]!.id, t.id);
      assert.equal(existsSync(t.dir), false, 'its files are gone');
      // Another shape gets its own template.
      w.pool.afterColdBoot(img, { ...SPEC, vcpu: 2 }, { fingerprint: fingerprintOf(now), parts: now });
      await w.settle();
      assert.equal(w.snapshots.poolTemplates().length, 2);
    } finally {
      w.close();
    }
  });

  it('--clear cancels a build in flight, removes templates, and keeps one still in use until its VMs are gone', async () => {
    const w = poolWorld();
    try {
      const img = imageIn(w.home);
      w.images.set(img.id, img);
      const parts = fingerprintParts(img, QEMU);
      w.pool.afterColdBoot(img, SPEC, { fingerprint: fingerprintOf(parts), parts });
      await w.settle();
      const [used] = w.snapshots.poolTemplates();
      const now = new Date().toISOString();
      w.repo.insert({ id: 'feedfacecafe', name: 'child', imageId: img.id, state: 'running', spec: SPEC, runtime: {}, createdAt: now, updatedAt: now });
      w.snapshots.addDependent('feedfacecafe', used!.id);
      const release = w.hold();
      w.pool.afterColdBoot(img, { ...SPEC, vcpu: 2 }, { fingerprint: fingerprintOf(parts), parts });
      assert.deepEqual(w.pool.list(() => fingerprintOf(parts)).map((x) => x.status).sort(), ['building', 'ready']);
      const cleared = w.pool.clear();
      release();
      const r = await cleared;
      assert.equal(r.cancelled, 1);
      assert.deepEqual(r.retired, [used!.name]);
      assert.deepEqual(w.pool.templates(), [], 'nothing is restored from the pool after --clear');
      assert.deepEqual(w.pool.list(() => fingerprintOf(parts)).map((x) => [x.status, x.usedBy]), [['retired', ['child']]]);
      assert.deepEqual(w.repo.list().map((x) => x.name), ['child'], 'the cancelled build VM is removed');
      assert.ok(existsSync(used!.dir), 'a template in use keeps its files');
      w.repo.delete('feedfacecafe');
      w.pool.collect(used!.id);
      assert.deepEqual(w.snapshots.poolTemplates(), [], 'removed once no VM uses it');
      assert.equal(existsSync(used!.dir), false);
    } finally {
      w.close();
    }
  });

  it('image delete drops the templates of that image only', async () => {
    const w = poolWorld();
    try {
      const a = imageIn(w.home, 'imgaaaaaaaaa');
      const b = imageIn(w.home, 'imgbbbbbbbbb');
      for (const img of [a, b]) {
        w.images.set(img.id, img);
        const parts = fingerprintParts(img, QEMU);
        w.pool.afterColdBoot(img, SPEC, { fingerprint: fingerprintOf(parts), parts });
      }
      await w.settle();
      assert.equal(w.snapshots.poolTemplates().length, 2);
      await w.pool.forgetImage(a.id);
      assert.deepEqual(w.snapshots.poolTemplates().map((t) => t.imageId), [b.id]);
    } finally {
      w.close();
    }
  });

  it('at daemon start, a half-built template (build VM, unpublished or unrecorded directory) is swept', async () => {
    const w = poolWorld();
    try {
      const img = imageIn(w.home);
      w.images.set(img.id, img);
      const now = new Date().toISOString();
      w.repo.insert({ id: 'abcdefabcdef', name: '_pool-abcdefabcdef', imageId: img.id, state: 'starting', spec: SPEC, runtime: {}, createdAt: now, updatedAt: now });
      w.repo.insert({ id: 'userfeed0001', name: 'mine', imageId: img.id, state: 'running', spec: SPEC, runtime: {}, createdAt: now, updatedAt: now });
      mkdirSync(join(w.layout.snapshotsDir, '.0123456789ab.partial'));
      mkdirSync(join(w.layout.snapshotsDir, '0123456789ab'));
      const kept = template(w.layout.snapshotsDir, 'keepkeepkeep', img, SPEC, 'fp');
      mkdirSync(kept.dir);
      w.snapshots.insert(kept);
      const swept = await w.pool.sweep();
      assert.deepEqual(swept.buildVMs, ['_pool-abcdefabcdef']);
      assert.deepEqual(swept.dirs.sort(), ['.0123456789ab.partial', '0123456789ab']);
      assert.deepEqual(w.repo.list().map((r) => r.name), ['mine'], "a user's VM is never touched");
      assert.ok(existsSync(kept.dir), 'a recorded template stays');
    } finally {
      w.close();
    }
  });
});

describe('the warm pool on the fake driver', () => {
  it('stays out: vm create boots cold and says why, no template is built, vm pool is empty', async () => {
    const w = await fakeWorld({}, { warm_pool: true });
    try {
      const said: string[] = [];
      const ctx = { ...quietContext(), log: (m: string) => void said.push(m) };
      await w.services.vms.create({ name: 'plain' }, ctx);
      assert.ok(said.some((m) => /plain: cold boot \(the warm pool serves the qemu and firecracker drivers only \(this VM runs with fake\)\)/.test(m)), said.join('\n'));
      assert.deepEqual(await w.services.vms.poolList(), []);
      assert.deepEqual(w.services.vms.list().map((v) => v.name), ['plain']);
      said.length = 0;
      await w.services.vms.create({ name: 'colder', cold: true }, ctx);
      assert.ok(said.some((m) => /colder: cold boot \(--cold\)/.test(m)), said.join('\n'));
      assert.throws(() => w.services.vms.precheck({ cold: true, fromSnapshot: 'warm' }), /--cold cannot be used with --from/);
      assert.throws(() => w.services.vms.precheck({ cold: true, noStart: true }), /--cold has no effect with --no-start/);
    } finally {
      await w.close();
    }
  });
});
