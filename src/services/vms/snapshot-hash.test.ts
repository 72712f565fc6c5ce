/**
 * A fork's snapshot is published with its memory's sums pending and hashed in the background: the
 * daemon that wrote it restores it meanwhile, a fresh process (a restarted daemon) refuses it, the
 * background hash records the right sums, a file changed while pending is refused, and a delete or a
 * daemon stop leaves no manifest write behind. The driver here only writes files; the fork itself runs
 * with QEMU in src/e2e/warm.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BangerError } from '../../api/errors.js';
import type { HypervisorDriver, VMHandle } from '../../drivers/hypervisor.js';
import { snapshotFiles, vmFiles } from '../../model/filenames.js';
import { SnapshotRepo, type SnapshotRow } from '../../store/snapshots.js';
import type { VMRow } from '../../store/vms.js';
import { run, runUnchecked } from '../../system/exec.js';
import { sha256FileIdle } from '../../system/sha256.js';
import { fakeWorld, type FakeWorld } from '../../testing/fake-services.js';
import { quietContext } from '../op-context.js';
import type { VMServiceDeps } from './deps.js';
import { takeSnapshot } from './snapshot-create.js';
import { PendingHashes, type HashFile, type PendingHashDeps } from './snapshot-hash.js';
import { fileStamp, markHashPending, readManifest, verifyFiles } from './snapshot-manifest.js';
import { checksumState } from './snapshot-view.js';

const root = mkdtempSync('/tmp/bsnaph-');
const vmsDir = join(root, 'vms');
const snapshotsDir = join(root, 'snapshots');
const now = new Date().toISOString();
const MEMORY = 'device state and some memory\n';
const RAM = Buffer.alloc(3 << 20, 7);

/** A driver whose save writes a memory file and a RAM image, and whose freeze copies nothing but makes the file. */
const driver = {
  capabilities: () => ({ name: 'qemu', snapshots: true }),
  snapshots: {
    pause: () => Promise.resolve(),
    resume: () => Promise.resolve(),
    saveState: (_h: VMHandle, file: string, opts: { ramFile: string }) => {
      writeFileSync(file, MEMORY);
      writeFileSync(opts.ramFile, RAM);
      return Promise.resolve({ driver: 'qemu', version: 'v', accel: 'tcg', memoryBytes: MEMORY.length, ramBytes: RAM.length });
    },
    freezeDisk: (_live: unknown, frozen: string) => {
      writeFileSync(frozen, 'disk');
      return Promise.resolve({});
    },
  },
} as unknown as HypervisorDriver;

const deps = {
  layout: { vmsDir, snapshotsDir },
  images: { byId: () => ({ id: 'img', name: 'img', kernelPath: '/k' }) },
  logger: { warn: () => undefined, info: () => undefined },
} as unknown as VMServiceDeps;

/** A fork's snapshot of a VM of its own, as the fork publishes it: sums pending. */
async function forkSnapshot(id: string): Promise<SnapshotRow> {
  const row: VMRow = { id: `vm${id}`, name: `src${id}`, imageId: 'img', state: 'running', spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1 << 30, nat: false }, runtime: {}, createdAt: now, updatedAt: now };
  const files = vmFiles(vmsDir, row.id);
  mkdirSync(files.dir, { recursive: true });
  writeFileSync(files.rootDisk('qcow2'), '');
  writeFileSync(`${files.hostKey}.pub`, 'ssh-ed25519 AAAA test\n');
  mkdirSync(snapshotsDir, { recursive: true });
  const handle: VMHandle = { driver: 'qemu', pid: 4242, controlSocket: '/run/none.sock', accel: 'tcg', startedAt: now };
  return takeSnapshot(deps, driver, row, handle, { id, name: `fork${id}`, stop: false, deferHash: true }, quietContext());
}

/** A store that records the manifests written to it. */
function store(): PendingHashDeps & { written: unknown[] } {
  const written: unknown[] = [];
  return {
    written,
    snapshots: { get: () => ({}) as SnapshotRow, setManifest: (_id: string, m: unknown) => void written.push(m) },
    logger: { info: () => undefined, warn: () => undefined },
  };
}

/** A hash that waits until released (or aborted), then hashes for real. */
function gatedHash(): { hash: HashFile; started: Promise<void>; release: () => void } {
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const begun = new Promise<void>((r) => (started = r));
  return {
    started: begun,
    release: () => release(),
    hash: async (path, signal) => {
      started();
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        void gate.then(resolve);
      });
      return sha256FileIdle(path, signal);
    },
  };
}

async function sha256sum(path: string): Promise<string> {
  return (await run(['sha256sum', path])).stdout.split(' ')[0]!;
}

function refusal(err: unknown): string {
  assert.ok(err instanceof BangerError, `not a BangerError: ${String(err)}`);
  return `${err.code}: ${err.message} | ${err.hint ?? ''}`;
}

const refused = (p: Promise<unknown>) => p.then(() => assert.fail('expected a refusal'), refusal);

/** Runs verifyFiles on `dir` in a new Node process: what a restarted daemon would conclude. */
async function verifyInFreshProcess(dir: string): Promise<string> {
  const mod = pathToFileURL(join(import.meta.dirname, 'snapshot-manifest.js')).href;
  const script = `import { readManifest, verifyFiles } from ${JSON.stringify(mod)};
const dir = process.argv[1];
try { await verifyFiles(dir, await readManifest(dir + '/manifest.json')); console.log('restorable'); }
catch (e) { console.log(e.message + ' | ' + e.hint); }`;
  return (await runUnchecked([process.execPath, '--input-type=module', '-e', script, dir])).stdout.trim();
}

after(() => rmSync(root, { recursive: true, force: true }));

describe('a fork snapshot hashed in the background', () => {
  it('is published with pending sums, restorable by the daemon that wrote it, refused by a fresh process, and then gets the sums sha256sum computes', async () => {
    const snap = await forkSnapshot('a1');
    const sf = snapshotFiles(snapshotsDir, 'a1');
    const published = await readManifest(sf.manifest);
    assert.equal(published.memory.sha256, '');
    assert.equal(published.ram?.sha256, '');
    assert.equal(checksumState(sf.dir, published), 'pending');
    // This daemon wrote the files and they are as saved: the restore's check passes without the sums.
    await verifyFiles(sf.dir, published);
    // A restarted daemon has no record of writing them.
    assert.match(await verifyInFreshProcess(sf.dir), /^snapshot forka1 was never fully checked: its memory was still being hashed when the daemon stopped \| delete it with banger vm snapshot delete forka1 and take it again$/);

    const s = store();
    const hashes = new PendingHashes(s);
    hashes.start(snap);
    assert.ok(hashes.has('a1'));
    await hashes.settled('a1');
    assert.equal(hashes.has('a1'), false);
    const filled = await readManifest(sf.manifest);
    assert.equal(filled.memory.sha256, await sha256sum(sf.memory));
    assert.equal(filled.ram?.sha256, await sha256sum(sf.ram));
    assert.deepEqual(s.written, [filled], 'the store gets the same manifest');
    assert.deepEqual({ ...filled, memory: { ...filled.memory, sha256: '' }, ram: { ...filled.ram, sha256: '' } }, published, 'only the sums changed');
    assert.equal(checksumState(sf.dir, filled), 'recorded');
    // Restorable everywhere now, and still by a caller that read the manifest while it was pending.
    assert.equal(await verifyInFreshProcess(sf.dir), 'restorable');
    await verifyFiles(sf.dir, published);
    assert.deepEqual(readdirSync(sf.dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left');
  });

  it('refuses a file changed while its sum was pending, and the background hash records no sum for it', async () => {
    const snap = await forkSnapshot('b2');
    const sf = snapshotFiles(snapshotsDir, 'b2');
    const m = await readManifest(sf.manifest);
    appendFileSync(sf.ram, 'x');
    assert.match(await refused(verifyFiles(sf.dir, m)), /^operation_failed: snapshot forkb2: its RAM image changed after it was saved, before its sha256 was recorded \| delete it with banger vm snapshot delete forkb2/);
    assert.equal(checksumState(sf.dir, m), 'missing');
    const s = store();
    const hashes = new PendingHashes(s);
    hashes.start(snap);
    await hashes.settled('b2');
    assert.deepEqual(s.written, []);
    const later = await readManifest(sf.manifest);
    assert.equal(later.ram?.sha256, '', 'no sum of a changed file is recorded');
    assert.match(await refused(verifyFiles(sf.dir, later)), /^operation_failed: snapshot forkb2 was never fully checked: memory\.ram changed after it was saved \|/);
  });

  it('a daemon stop waits for a hash, then cancels it: the snapshot stays pending and is refused', async () => {
    const snap = await forkSnapshot('c3');
    const sf = snapshotFiles(snapshotsDir, 'c3');
    const gated = gatedHash();
    const s = store();
    const hashes = new PendingHashes(s, gated.hash);
    hashes.start(snap);
    await gated.started;
    const t0 = Date.now();
    await hashes.stop(200);
    assert.ok(Date.now() - t0 >= 190, 'it waited for the grace period');
    assert.equal(hashes.has('c3'), false);
    gated.release();
    assert.deepEqual(s.written, []);
    const m = await readManifest(sf.manifest);
    assert.equal(m.memory.sha256, '');
    assert.match(await refused(verifyFiles(sf.dir, m)), /^operation_failed: snapshot forkc3 was never fully checked: its memory was still being hashed when the daemon stopped \| delete it with banger vm snapshot delete forkc3/);
  });

  it('a daemon stop lets a hash that finishes within the grace period record its sums', async () => {
    const snap = await forkSnapshot('d4');
    const sf = snapshotFiles(snapshotsDir, 'd4');
    const gated = gatedHash();
    const hashes = new PendingHashes(store(), gated.hash);
    hashes.start(snap);
    await gated.started;
    setTimeout(() => gated.release(), 50);
    await hashes.stop(10_000);
    assert.equal((await readManifest(sf.manifest)).memory.sha256, await sha256sum(sf.memory));
  });
});

describe('deleting a fork snapshot whose hash is pending', () => {
  let w: FakeWorld;
  before(async () => {
    w = await fakeWorld();
  });
  after(async () => {
    await w.close();
  });

  it('cancels the hash: the directory is gone and no manifest is written into it', async () => {
    const vm = await w.services.vms.create({ name: 'src', noStart: true }, quietContext());
    const sf = snapshotFiles(w.layout.snapshotsDir, 'feed02');
    mkdirSync(sf.dir, { recursive: true });
    writeFileSync(sf.memory, Buffer.alloc(64 << 20, 1));
    const manifest = { format: 2, name: 'pend', machine: { vcpu: 1, memoryMiB: 256 }, driver: { driver: 'qemu', version: 'v' }, image: { id: vm.imageId, name: 'tiny' }, memory: { file: 'memory.bin', bytes: 64 << 20, sha256: '' } };
    writeFileSync(sf.manifest, JSON.stringify(manifest));
    markHashPending(sf.memory, fileStamp(sf.memory));
    const row: SnapshotRow = { id: 'feed02', name: 'pend', sourceVmId: vm.id, sourceVmName: 'src', imageId: vm.imageId, dir: sf.dir, manifest, createdAt: now };
    new SnapshotRepo(w.db).insert(row);
    assert.equal(w.services.vms.snapshotShow('pend').checksum, 'pending');
    w.services.vms.hashes.start(row);
    assert.ok(w.services.vms.hashes.has('feed02'), 'the hash is under way when the delete comes');
    assert.deepEqual(await w.services.vms.snapshotDelete('pend'), { deleted: 'pend' });
    assert.equal(w.services.vms.hashes.has('feed02'), false);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(existsSync(sf.dir), false, 'nothing recreated the directory');
    assert.deepEqual(readdirSync(w.layout.snapshotsDir), []);
  });

  it('show says a snapshot whose sums were never recorded is missing them', async () => {
    const vm = w.services.vms.show('src');
    const sf = snapshotFiles(w.layout.snapshotsDir, 'feed03');
    mkdirSync(sf.dir, { recursive: true });
    writeFileSync(sf.memory, 'x');
    const manifest = { format: 2, name: 'old', machine: { vcpu: 1, memoryMiB: 256 }, driver: { driver: 'qemu', version: 'v' }, image: { id: vm.imageId, name: 'tiny' }, memory: { file: 'memory.bin', bytes: 1, sha256: '' } };
    new SnapshotRepo(w.db).insert({ id: 'feed03', name: 'old', sourceVmId: vm.id, sourceVmName: 'src', imageId: vm.imageId, dir: sf.dir, manifest, createdAt: now });
    assert.equal(w.services.vms.snapshotShow('old').checksum, 'missing');
    assert.equal(readFileSync(sf.memory, 'utf8'), 'x');
    await w.services.vms.snapshotDelete('old');
  });
});

describe('sha256FileIdle', () => {
  it('gives the sum sha256sum gives, and ends its child when aborted', async () => {
    const f = join(root, 'big.bin');
    writeFileSync(f, Buffer.alloc(32 << 20, 9));
    assert.equal(await sha256FileIdle(f), await sha256sum(f));
    const abort = new AbortController();
    const p = sha256FileIdle(f, abort.signal);
    abort.abort(new Error('stop now'));
    await assert.rejects(p, /stop now/);
    await assert.rejects(sha256FileIdle(join(root, 'nope')), /ENOENT|no such file/);
  });
});
