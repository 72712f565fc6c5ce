/**
 * Restoring one Firecracker snapshot as several new VMs, on the stand-in (the real driver spawning the
 * strict API stand-in, which models the guest's NIC and answers the guest channel like the guest bits):
 * each child loads on its own tap (network_overrides) and vsock socket, and is re-addressed over the
 * guest channel to its own MAC and address. Refusals: a guest without readdress, a driver without a
 * guest channel, snapshots whose guest bits are too old or unknown.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BangerError } from '../../api/errors.js';
import { FirecrackerApi } from '../../drivers/firecracker/api.js';
import { FirecrackerDriver } from '../../drivers/firecracker/driver.js';
import type { HypervisorDriver, LaunchSpec, VMHandle } from '../../drivers/hypervisor.js';
import { findProcesses, signalProcess } from '../../system/proc.js';
import { installStandin, standinSpec, tinyVmlinux } from '../../testing/firecracker/fixture.js';
import { FirecrackerSchema } from '../../testing/firecracker/schema.js';
import { readdressRestored, refuseUnaddressable, saveProblem } from './readdress.js';
import type { SnapshotManifest } from './snapshot-manifest.js';

const isCode = (code: string, text: RegExp, hint?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof BangerError, String(err));
  assert.equal(err.code, code, err.message);
  assert.match(err.message, text);
  if (hint) assert.match(err.hint ?? '', hint);
  return true;
};

interface Recorded {
  method: string;
  path: string;
  body: unknown;
  status: number;
  reply?: unknown;
}

describe('restoring a firecracker snapshot as new VMs', () => {
  let work = '';
  const handles: VMHandle[] = [];
  let d: FirecrackerDriver;
  let record = '';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-fcid-'));
    await writeFile(join(work, 'vmlinux'), tinyVmlinux());
    record = join(work, 'requests.jsonl');
    d = new FirecrackerDriver({ bin: await installStandin(join(work, 'bin'), { recordTo: record }) });
  });
  after(async () => {
    for (const h of handles) await d.kill(h).catch(() => undefined);
    for (const pid of findProcesses((argv) => argv.some((a) => a.includes(work)))) signalProcess(pid, 'SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  const spec = (id: string) => standinSpec(work, id, join(work, id, 'run'));
  const records = async () => (await readFile(record, 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Recorded);

  /** A source VM saved (Full), its disks frozen; returns the memory file and the frozen disks' directory. */
  async function saved(driver: FirecrackerDriver, id: string): Promise<{ mem: string; frozen: string; source: LaunchSpec }> {
    const source = { ...(await spec(id)), network: { mode: 'tap' as const, tap: `tap-${id}`.slice(0, 15), mac: '02:fc:00:00:00:01' } };
    const h = await driver.launch(source);
    handles.push(h);
    await driver.snapshots.pause(h);
    const mem = join(work, `${id}.mem`);
    await driver.snapshots.saveState(h, mem);
    const frozen = join(work, `${id}-frozen`);
    await mkdir(frozen);
    for (const disk of source.disks) await driver.snapshots.freezeDisk(disk, join(frozen, basename(disk.path)));
    await driver.kill(h);
    return { mem, frozen, source };
  }

  async function child(driver: FirecrackerDriver, id: string, frozen: string, n: number): Promise<LaunchSpec> {
    const c = await spec(id);
    for (const disk of c.disks) {
      await rm(disk.path);
      await driver.snapshots.createDiskOver({ ...disk, path: join(frozen, basename(disk.path)) }, disk.path);
    }
    return { ...c, network: { mode: 'tap', tap: `tap-${id}`.slice(0, 15), mac: `02:fc:00:00:00:${(0x10 + n).toString(16)}` } };
  }

  it('three children restore at once, each on its own tap, then take their own MAC and address', async () => {
    const { mem, frozen } = await saved(d, 'fcid-src');
    await writeFile(record, '');
    const kids = await Promise.all([1, 2, 3].map((n) => child(d, `fcid-c${n}`, frozen, n)));
    const restored = await Promise.all(kids.map((k) => d.snapshots.restore(k, mem)));
    handles.push(...restored);
    await Promise.all(
      kids.map((k, i) =>
        readdressRestored(d, restored[i]!, k.name, {
          mac: (k.network as { mac: string }).mac,
          guest: { mode: 'static', address: `10.213.0.${20 + i}`, prefix: 24, gateway: '10.213.0.1' },
          nameservers: ['10.213.0.1'],
        }),
      ),
    );
    for (const [i, r] of restored.entries()) {
      const config = (await new FirecrackerApi(r.controlSocket).call('GET', '/vm/config')) as Record<string, { host_dev_name?: string; guest_mac?: string }>;
      assert.equal(config['network-interfaces/eth0']?.host_dev_name, `tap-fcid-c${i + 1}`, 'each child runs on its own tap');
    }
    const rec = await records();
    const schema = FirecrackerSchema.load();
    assert.ok(schema, 'the API description is there');
    const loads = rec.filter((q) => q.path === '/snapshot/load');
    assert.equal(loads.length, 3);
    for (const q of loads) {
      assert.deepEqual(schema.problems('SnapshotLoadParams', q.body), [], 'the load body follows the API description');
      assert.equal(q.status, 204);
    }
    assert.deepEqual(
      loads.map((q) => (q.body as { network_overrides: { iface_id: string; host_dev_name: string }[] }).network_overrides).sort((a, b) => a[0]!.host_dev_name.localeCompare(b[0]!.host_dev_name)),
      [1, 2, 3].map((n) => [{ iface_id: 'eth0', host_dev_name: `tap-fcid-c${n}` }]),
    );
    assert.equal(new Set(loads.map((q) => (q.body as { vsock_override: { uds_path: string } }).vsock_override.uds_path)).size, 3, 'each child has its own vsock socket');
    const re = rec.filter((q) => q.method === 'VSOCK').map((q) => q.reply as string).sort();
    assert.deepEqual(re, ['ok readdress eth0 02:fc:00:00:00:11 10.213.0.20/24', 'ok readdress eth0 02:fc:00:00:00:12 10.213.0.21/24', 'ok readdress eth0 02:fc:00:00:00:13 10.213.0.22/24']);
  });

  it('a guest whose guest bits predate readdress is refused with the way out, and its VM is left to the caller', async () => {
    const old = new FirecrackerDriver({ bin: await installStandin(join(work, 'old-bin'), { guestBits: 6 }) });
    const { mem, frozen } = await saved(old, 'fcid-old');
    const k = await child(old, 'fcid-oldc', frozen, 9);
    const r = await old.snapshots.restore(k, mem);
    handles.push(r);
    await assert.rejects(
      readdressRestored(old, r, k.name, { mac: '02:fc:00:00:00:19', guest: { mode: 'static', address: '10.213.0.40', prefix: 24, gateway: '10.213.0.1' }, nameservers: [] }),
      isCode('operation_failed', /could not give vm fcid-oldc its own address: its guest bits do not know readdress \(older than 7\)/, /rebuild or pull the image again/),
    );
    await old.kill(r);
  });

  it('an address the guest must not be told is refused before anything is sent', async () => {
    const { mem, frozen } = await saved(d, 'fcid-bad');
    const k = await child(d, 'fcid-badc', frozen, 10);
    const r = await d.snapshots.restore(k, mem);
    handles.push(r);
    await writeFile(record, '');
    await assert.rejects(
      readdressRestored(d, r, k.name, { mac: '02:fc:00:00:00:1a', guest: { mode: 'static', address: '10.213.0.41', prefix: 24, gateway: '10.99.0.1' }, nameservers: [] }),
      /gateway 10\.99\.0\.1 is outside 10\.213\.0\.41\/24/,
    );
    assert.deepEqual((await records()).filter((q) => q.method === 'VSOCK'), []);
    await d.kill(r);
  });
});

describe('refusals before a bridge-mode save or restore', () => {
  const manifest = (over: Partial<SnapshotManifest>): SnapshotManifest =>
    ({ name: 'snap1', source: { vmId: 'a', vmName: 'src' }, driver: { driver: 'firecracker', version: 'firecracker 1.16.1', accel: 'kvm', memoryBytes: 1 }, machine: { network: 'tap' }, ...over }) as unknown as SnapshotManifest;
  const fc = { capabilities: () => ({ name: 'firecracker' }), guestChannel: () => Promise.resolve('') } as unknown as HypervisorDriver;
  const qemu = { capabilities: () => ({ name: 'qemu' }) } as unknown as HypervisorDriver;

  it('restore: guest bits too old or unknown, or a driver without a guest channel', () => {
    assert.throws(() => refuseUnaddressable(manifest({ guestBits: 6 }), fc), isCode('bad_request', /snapshot snap1 holds guest bits version 6, older than 7, so a restored VM could not take its own address \(it would keep src's\)/, /rebuild or pull the image again/));
    assert.throws(() => refuseUnaddressable(manifest({}), fc), isCode('bad_request', /guest bits of an unknown version/));
    assert.throws(() => refuseUnaddressable(manifest({ guestBits: 7 }), qemu), isCode('bad_request', /the qemu driver has no guest channel/, /restore it with the driver that saved it \(firecracker\)/));
    refuseUnaddressable(manifest({ guestBits: 7 }), fc);
    refuseUnaddressable({ ...manifest({}), machine: { network: 'user' } } as unknown as SnapshotManifest, qemu);
  });

  it('save: a bridge-mode VM is saved only with a guest channel and guest bits that answer readdress', () => {
    assert.match(saveProblem(qemu, 'dev', 7)?.message ?? '', /snapshots of bridge-mode VMs are not supported yet/);
    assert.match(saveProblem(fc, 'dev', 6)?.message ?? '', /vm dev runs guest bits version 6, older than 7/);
    assert.match(saveProblem(fc, 'dev', undefined)?.message ?? '', /of an unknown version/);
    assert.equal(saveProblem(fc, 'dev', 7), undefined);
  });
});
