/**
 * Snapshot refusals and bookkeeping on the fake driver (which has no snapshot support, like a driver
 * that cannot save state): the real restore path runs in src/e2e/warm.test.ts with QEMU.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { BangerError } from '../../api/errors.js';
import { snapshotFiles } from '../../model/filenames.js';
import { SnapshotRepo } from '../../store/snapshots.js';
import { fakeWorld, type FakeWorld } from '../../testing/fake-services.js';
import { quietContext } from '../op-context.js';
import { SNAPSHOT_FORMAT } from './snapshot-manifest.js';

function refusal(err: unknown): string {
  assert.ok(err instanceof BangerError, `not a BangerError: ${String(err)}`);
  return `${err.code}: ${err.message} | ${err.hint ?? ''}`;
}

async function rejection(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => refusal(e),
  );
}

describe('snapshots on the fake driver', () => {
  let w: FakeWorld;
  before(async () => {
    w = await fakeWorld();
  });
  after(async () => {
    await w.close();
  });

  it('refuses to snapshot a stopped VM, saying how to fix it', async () => {
    await w.services.vms.create({ name: 'cold', noStart: true }, quietContext());
    const msg = await rejection(w.services.vms.snapshotCreate('cold', {}, quietContext()));
    assert.match(msg, /^not_running: vm cold is stopped: a snapshot saves a running VM's memory \| start it with banger vm start cold/);
  });

  it('refuses to snapshot a bridge-mode VM (a restored guest would keep its address), naming the way out', async () => {
    await w.services.vms.create({ name: 'bridged' }, quietContext());
    const row = w.db.prepare("SELECT spec_json FROM vms WHERE name = 'bridged'").get() as { spec_json: string };
    w.db.prepare("UPDATE vms SET spec_json = ? WHERE name = 'bridged'").run(JSON.stringify({ ...JSON.parse(row.spec_json), network: 'bridge' }));
    const msg = await rejection(w.services.vms.snapshotCreate('bridged', {}, quietContext()));
    assert.match(msg, /^bad_request: vm bridged uses bridge networking, and snapshots of bridge-mode VMs are not supported yet/);
    // A driver without a guest channel (the fake one here, QEMU) cannot re-address a restored copy.
    assert.match(msg, /\| snapshot a user-mode VM \(created with --network user\)$/);
    await w.services.vms.delete('bridged');
  });

  it('refuses clearly when the driver cannot save state, and leaves the VM running', async () => {
    await w.services.vms.create({ name: 'hot' }, quietContext());
    const msg = await rejection(w.services.vms.snapshotCreate('hot', { name: 's1' }, quietContext()));
    assert.match(msg, /^unavailable: the fake driver cannot take snapshots/);
    assert.equal(w.services.vms.show('hot').state, 'running');
    assert.deepEqual(w.services.vms.snapshotList(), []);
    assert.equal(existsSync(w.layout.snapshotsDir) ? (await import('node:fs')).readdirSync(w.layout.snapshotsDir).length : 0, 0, 'nothing half-written');
  });

  it('pause, resume and suspend refuse a VM that is not running, and a driver without snapshots, leaving it running', async () => {
    assert.match(await rejection(w.services.vms.pause('cold')), /^not_running: vm cold is stopped: only a running VM can be paused \| start it with banger vm start cold/);
    assert.match(await rejection(w.services.vms.resume('cold')), /^not_running: vm cold is stopped, not paused/);
    assert.match(await rejection(w.services.vms.suspend('cold', quietContext())), /^not_running: vm cold is stopped: only a running or paused VM can be suspended/);
    assert.match(await rejection(w.services.vms.pause('hot')), /^unavailable: the fake driver cannot pause VMs \(snapshots are not supported by this driver\)/);
    assert.match(await rejection(w.services.vms.suspend('hot', quietContext())), /^unavailable: the fake driver cannot suspend VMs/);
    assert.equal(w.services.vms.show('hot').state, 'running');
    assert.deepEqual(await w.services.vms.resume('hot').then((v) => v.state), 'running', 'resuming a running VM changes nothing');
  });

  it('refuses restore requests that would change the saved machine, and unknown snapshots', async () => {
    assert.match(await rejection(w.services.vms.create({ fromSnapshot: 'nope' }, quietContext())), /^not_found: snapshot "nope" not found/);
    assert.match(await rejection(w.services.vms.create({ fromSnapshot: 'nope', vcpu: 2 }, quietContext())), /^bad_request: --from restores the snapshot's machine as it was saved; vcpu cannot be changed/);
    assert.match(await rejection(w.services.vms.create({ fromSnapshot: 'nope', noStart: true }, quietContext())), /^bad_request: --no-start cannot be used with --from/);
  });

  it('refuses to delete a snapshot a VM depends on, naming the VM; deletes it once the VM is gone', async () => {
    const repo = new SnapshotRepo(w.db);
    const files = snapshotFiles(w.layout.snapshotsDir, 'feed01');
    mkdirSync(files.dir, { recursive: true });
    writeFileSync(files.memory, 'x');
    const vm = w.services.vms.show('cold');
    const manifest = {
      format: SNAPSHOT_FORMAT,
      machine: { vcpu: 1, memoryMiB: 256 },
      driver: { driver: 'qemu', version: 'qemu 7.2.22' },
      image: { id: vm.imageId, name: 'tiny' },
    };
    repo.insert({ id: 'feed01', name: 'base', sourceVmId: vm.id, sourceVmName: 'cold', imageId: vm.imageId, dir: files.dir, manifest, createdAt: new Date().toISOString() });
    repo.addDependent(vm.id, 'feed01');
    const listed = w.services.vms.snapshotList();
    assert.deepEqual(listed.map((s) => [s.name, s.sourceVm, s.usedBy, s.imageName, s.memoryMiB]), [['base', 'cold', ['cold'], 'tiny', 256]]);
    assert.ok(listed[0]!.sizeBytes > 0);
    const msg = await rejection(w.services.vms.snapshotDelete('base'));
    assert.match(msg, /^bad_request: snapshot base is in use by vm cold .*\| delete them first: banger vm delete cold/);
    assert.ok(existsSync(files.memory), 'a refused delete removes nothing');
    await w.services.vms.delete('cold');
    assert.deepEqual(w.services.vms.snapshotShow('base').usedBy, []);
    assert.deepEqual(await w.services.vms.snapshotDelete('base'), { deleted: 'base' });
    assert.equal(existsSync(files.dir), false);
    assert.match(refusal((() => { try { w.services.vms.snapshotShow('base'); } catch (e) { return e; } })()), /^not_found/);
  });
});
