/**
 * A bridge-mode (tap) snapshot becomes a new VM only where the restored guest can be re-addressed:
 * the VM service refuses, before anything is made, a snapshot whose guest bits predate readdress
 * (or are unknown) and a driver without a guest channel; and it refuses to snapshot or fork a
 * bridge-mode VM on a driver that has none. On the fake driver, wrapped to offer snapshots and a
 * guest channel where a test needs them (the restore itself runs in readdress.test.ts and the
 * real-boot test).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { BangerError } from '../../api/errors.js';
import { fakeEntry, type DriverEntry } from '../../drivers/registry.js';
import type { FakeKnobs } from '../../drivers/fake/index.js';
import { snapshotFiles } from '../../model/filenames.js';
import { SnapshotRepo } from '../../store/snapshots.js';
import { fakeWorld, type FakeWorld } from '../../testing/fake-services.js';
import { quietContext } from '../op-context.js';
import { SNAPSHOT_FORMAT, type SnapshotManifest } from './snapshot-manifest.js';

async function rejection(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => {
      assert.ok(e instanceof BangerError, `not a BangerError: ${String(e)}`);
      return `${e.code}: ${e.message} | ${e.hint ?? ''}`;
    },
  );
}

/** The fake driver with snapshot support (its state version only) and, optionally, a guest channel. */
function snapshotting(channel: boolean): (k: FakeKnobs) => DriverEntry {
  return (k) => {
    const e = fakeEntry(k);
    return {
      ...e,
      create: () => {
        const d = e.create();
        const caps = d.capabilities.bind(d);
        return Object.assign(d, {
          capabilities: () => ({ ...caps(), snapshots: true }),
          snapshots: { stateVersion: () => Promise.resolve('fake 1') },
          ...(channel ? { guestChannel: () => Promise.resolve('ok 1') } : {}),
        });
      },
    };
  };
}

/** Records a bridge-mode snapshot of the world's image, saved by "fake 1" with these guest bits. */
function bridgeSnapshot(w: FakeWorld, id: string, name: string, guestBits: number | undefined): void {
  const imageId = w.services.images.list().find((i) => i.name === 'tiny')!.id;
  const files = snapshotFiles(w.layout.snapshotsDir, id);
  mkdirSync(files.dir, { recursive: true });
  const manifest: SnapshotManifest = {
    format: SNAPSHOT_FORMAT,
    id,
    name,
    createdAt: new Date().toISOString(),
    source: { vmId: 'aaaaaaaaaaaa', vmName: 'src' },
    image: { id: imageId, name: 'tiny' },
    driver: { driver: 'fake', version: 'fake 1', accel: 'tcg', memoryBytes: 4096 },
    machine: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1 << 30, kernelPath: '/k', cmdline: 'console=ttyS0', network: 'tap' },
    disks: [{ role: 'root', file: 'root.img', format: 'raw', serial: 'root' }],
    memory: { file: 'memory', bytes: 4096, sha256: '0'.repeat(64) },
    hostKeyFile: 'host_key.pub',
    ...(guestBits !== undefined ? { guestBits } : {}),
  };
  writeFileSync(files.manifest, JSON.stringify(manifest));
  new SnapshotRepo(w.db).insert({ id, name, sourceVmId: 'aaaaaaaaaaaa', sourceVmName: 'src', imageId, dir: files.dir, manifest, createdAt: manifest.createdAt });
}

describe('restoring bridge-mode snapshots as new VMs: refusals', () => {
  let w: FakeWorld;
  before(async () => {
    w = await fakeWorld({}, {}, snapshotting(true));
  });
  after(async () => {
    await w.close();
  });

  it('vm create --from a snapshot whose guest bits predate readdress is refused with the way out, and no VM is made', async () => {
    bridgeSnapshot(w, 'b0000000000b', 'old-bits', 6);
    const msg = await rejection(w.services.vms.create({ name: 'kid', fromSnapshot: 'old-bits' }, quietContext()));
    assert.match(msg, /^bad_request: snapshot old-bits holds guest bits version 6, older than 7, so a restored VM could not take its own address \(it would keep src's\) \| rebuild or pull the image again/);
    assert.deepEqual(w.services.vms.list().map((v) => v.name), []);
    assert.deepEqual(existsSync(w.layout.vmsDir) ? readdirSync(w.layout.vmsDir) : [], [], 'no VM directory was made');
  });

  it('a snapshot that does not say which guest bits it holds is refused too', async () => {
    bridgeSnapshot(w, 'b0000000000c', 'no-bits', undefined);
    assert.match(await rejection(w.services.vms.create({ fromSnapshot: 'no-bits' }, quietContext())), /^bad_request: snapshot no-bits holds guest bits of an unknown version/);
  });
});

describe('a driver without a guest channel', () => {
  let w: FakeWorld;
  before(async () => {
    w = await fakeWorld({}, {}, snapshotting(false));
  });
  after(async () => {
    await w.close();
  });

  it('refuses to restore a bridge-mode snapshot, naming the driver that saved it', async () => {
    bridgeSnapshot(w, 'b0000000000d', 'bridged-snap', 7);
    assert.match(await rejection(w.services.vms.create({ fromSnapshot: 'bridged-snap' }, quietContext())), /^bad_request: snapshot bridged-snap was saved from a bridge-mode VM, and the fake driver has no guest channel to give a restored copy its own address/);
  });

  it('refuses to fork a bridge-mode VM, and the VM keeps running', async () => {
    await w.services.vms.create({ name: 'br' }, quietContext());
    const row = w.db.prepare("SELECT spec_json FROM vms WHERE name = 'br'").get() as { spec_json: string };
    w.db.prepare("UPDATE vms SET spec_json = ? WHERE name = 'br'").run(JSON.stringify({ ...JSON.parse(row.spec_json), network: 'bridge' }));
    assert.match(await rejection(w.services.vms.fork('br', { count: 2 }, quietContext())), /^bad_request: vm br uses bridge networking, and snapshots of bridge-mode VMs are not supported yet.*\| snapshot a user-mode VM/);
    assert.equal(w.services.vms.show('br').state, 'running');
    assert.deepEqual(w.services.vms.list().map((v) => v.name), ['br'], 'no child was made');
  });
});
