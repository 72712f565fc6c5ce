/**
 * The firecracker driver against the strict stand-in API server, spawned as a `firecracker`
 * executable so the real spawn path runs: the shared conformance suite, then the error paths a
 * user meets (binary missing or too old, the API's 400 fault_message, an API socket that never
 * appears), snapshots, metrics and the vsock guest channel.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BangerError } from '../../api/errors.js';
import { findProcesses, isAlive, signalProcess } from '../../system/proc.js';
import { installStandin, standinFixture, standinSpec, tinyVmlinux } from '../../testing/firecracker/fixture.js';
import { runDriverConformance } from '../conformance.case.js';
import type { VMHandle } from '../hypervisor.js';
import { FirecrackerApi, FirecrackerApiError } from './api.js';
import { FirecrackerDriver } from './driver.js';
import { guestChannel, guestHealthy } from './vsock.js';
import { scratchDir } from '../../testing/scratch-dir.js';

const binDir = scratchDir('banger-fc-bin-');
const fcBin = await installStandin(binDir);
// The stand-in needs no KVM; the probe only asks that the device can be opened, so it gets a file it can.
const kvmDevice = join(binDir, 'kvm');
await writeFile(kvmDevice, '');

runDriverConformance({ makeDriver: () => new FirecrackerDriver({ bin: fcBin, kvmDevice }), fixture: standinFixture() });

const isCode = (code: string, text?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof BangerError, String(err));
  assert.equal(err.code, code, err.message);
  if (text) assert.match(err.message, text);
  return true;
};

describe('firecracker driver on the stand-in', () => {
  let work = '';
  const handles: VMHandle[] = [];
  const processesIn = (dir: string) => findProcesses((argv) => argv.some((a) => a.includes(dir)));

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-fc-'));
    await writeFile(join(work, 'vmlinux'), tinyVmlinux());
  });

  after(async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    for (const h of handles) await d.kill(h).catch(() => undefined);
    for (const pid of processesIn(work)) signalProcess(pid, 'SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  const spec = (id: string) => standinSpec(work, id, join(work, id, 'run'));

  it('probe: a missing binary is unavailable with the install hint', async () => {
    const r = await new FirecrackerDriver({ bin: join(work, 'no-such-firecracker'), kvmDevice }).probe();
    assert.equal(r.available, false);
    assert.match(r.reason, /not found/);
    assert.match(r.fixHint ?? '', /firecracker_bin|releases/);
  });

  it('probe and launch: a too old firecracker is refused, saying which version and what is needed', async () => {
    const old = await installStandin(join(work, 'old'), { version: '1.4.1' });
    const d = new FirecrackerDriver({ bin: old, kvmDevice });
    const r = await d.probe();
    assert.equal(r.available, false);
    assert.match(r.reason, /1\.4\.1 is older than 1\.5/);
    await assert.rejects(d.launch(await spec('old-a')), isCode('unavailable', /1\.4\.1 is older than 1\.5/));
    const newer = await installStandin(join(work, 'new'), { version: '1.17.0' });
    assert.match((await new FirecrackerDriver({ bin: newer, kvmDevice }).probe()).reason, /newer than 1\.16/);
  });

  it('probe: without a usable KVM device it is unavailable, naming the device', async () => {
    const r = await new FirecrackerDriver({ bin: fcBin, kvmDevice: join(work, 'no-kvm') }).probe();
    assert.equal(r.available, false);
    assert.match(r.reason, /no-kvm is not present/);
  });

  it('probe: boots a tiny microVM and says so; the verdict carries the version and device', async () => {
    const r = await new FirecrackerDriver({ bin: fcBin, kvmDevice }).probe();
    assert.equal(r.available, true, r.reason);
    assert.equal(r.version, '1.16.1');
    assert.match(r.reason, /a test microVM ran its guest code \(serial marker after \d+ms\)/);
    assert.deepEqual(findProcesses((argv) => argv.includes('banger-probe')), [], 'the test microVM is gone');
  });

  it('probe: a firecracker that refuses to start the test microVM is unavailable with its fault_message', async () => {
    const refusing = await installStandin(join(work, 'probe-refusing'), { fault: { path: '/actions', message: 'Start microvm error: Cannot open /dev/kvm: Permission denied' } });
    const r = await new FirecrackerDriver({ bin: refusing, kvmDevice }).probe();
    assert.equal(r.available, false);
    assert.match(r.reason, /a test microVM did not start: firecracker refused PUT \/actions: Start microvm error: Cannot open \/dev\/kvm/);
    assert.ok(r.fixHint);
    const hang = await installStandin(join(work, 'probe-hang'), { noSocket: true });
    const h = await new FirecrackerDriver({ bin: hang, kvmDevice, startTimeoutMs: 800 }).probe();
    assert.equal(h.available, false);
    assert.match(h.reason, /did not serve its API socket within 800ms/);
    assert.deepEqual(findProcesses((argv) => argv.includes('banger-probe')), [], 'nothing is left running');
  });

  it('probe: a host where the guest hangs or crashes after InstanceStart is unavailable, saying the marker never came', async () => {
    const hung = await installStandin(join(work, 'probe-guest-hang'), { guest: 'hang' });
    const h = await new FirecrackerDriver({ bin: hung, kvmDevice, startTimeoutMs: 3000 }).probe();
    assert.equal(h.available, false);
    assert.match(h.reason, /never wrote "banger-probe-ok" to the serial port: nothing came within 3000ms \(state Running\); its vCPU hangs or crashes here/);
    const crashing = await installStandin(join(work, 'probe-guest-crash'), { guest: 'crash' });
    const c = await new FirecrackerDriver({ bin: crashing, kvmDevice }).probe();
    assert.equal(c.available, false);
    assert.match(c.reason, /never wrote "banger-probe-ok" to the serial port: firecracker exited.*KVM_EXIT_INTERNAL_ERROR/);
    assert.deepEqual(findProcesses((argv) => argv.includes('banger-probe')), [], 'nothing is left running');
  });

  it('the API socket is private to its owner (umask 077) and the run dir is 0700', async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    const s = await spec('mode-a');
    const h = await d.launch(s);
    handles.push(h);
    assert.equal((await stat(h.controlSocket)).mode & 0o077, 0);
    assert.equal((await stat(s.runDir)).mode & 0o777, 0o700);
    await d.kill(h);
  });

  it('a request the API refuses fails the launch with its fault_message, leaving nothing running', async () => {
    const fault = 'Open tap device failed: Invalid TUN/TAP Backend provided by tap-refused.';
    const refusing = await installStandin(join(work, 'refusing'), { fault: { path: '/network-interfaces/eth0', message: fault } });
    const d = new FirecrackerDriver({ bin: refusing });
    const s = await spec('refused-a');
    await assert.rejects(d.launch(s), isCode('operation_failed', /firecracker refused PUT \/network-interfaces\/eth0 for vm "refused-a": Open tap device failed: Invalid TUN\/TAP Backend/));
    assert.deepEqual(processesIn(s.runDir), []);
    await assert.rejects(stat(join(s.runDir, 'control.sock')), 'no API socket is left behind');
  });

  it('launch: odd vCPU counts are refused before anything starts, with a hint', async () => {
    const s = await spec('vcpu-a');
    await assert.rejects(new FirecrackerDriver({ bin: fcBin }).launch({ ...s, vcpu: 3 }), isCode('bad_request', /1 or an even number/));
    assert.deepEqual(processesIn(s.runDir), []);
  });

  it('after InstanceStart the API refuses pre-boot calls, and the client surfaces the fault_message', async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    const h = await d.launch(await spec('started-a'));
    handles.push(h);
    const api = new FirecrackerApi(h.controlSocket);
    await assert.rejects(api.action({ action_type: 'InstanceStart' }), (e: unknown) => {
      assert.ok(e instanceof FirecrackerApiError);
      assert.equal(e.status, 400);
      assert.match(e.fault, /not supported after starting the microVM/);
      return true;
    });
    await assert.rejects(api.putMachineConfig({ vcpu_count: 1, mem_size_mib: 128 }), /not supported after starting/);
    await d.kill(h);
  });

  it('launch: an API socket that never appears times out naming the log files, and kills the process', async () => {
    const hang = await installStandin(join(work, 'hang'), { noSocket: true });
    const d = new FirecrackerDriver({ bin: hang, startTimeoutMs: 1500 });
    const s = await spec('hang-a');
    await assert.rejects(d.launch(s), isCode('operation_failed', new RegExp(`did not serve its API socket .* within 1500ms.*see ${s.consoleLog.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} and .*firecracker\\.log`)));
    assert.deepEqual(processesIn(s.runDir), []);
  });

  it('launch: a firecracker that exits at once fails with what it printed', async () => {
    const dies = await installStandin(join(work, 'dies'), { noSocket: true, exitAfterMs: 0 });
    const d = new FirecrackerDriver({ bin: dies, startTimeoutMs: 5000 });
    const s = await spec('dies-a');
    await assert.rejects(d.launch(s), isCode('operation_failed', /exited before serving its API.*Running Firecracker/s));
  });

  it('launch: user-mode networking is refused with the setting that fixes it', async () => {
    const s = await spec('user-a');
    await assert.rejects(new FirecrackerDriver({ bin: fcBin }).launch({ ...s, network: { mode: 'user', sshHostPort: 2222 } }), isCode('bad_request', /no user-mode network/));
    assert.deepEqual(processesIn(s.runDir), []);
  });

  it('launch: a qcow2 disk is refused (firecracker opens raw disks only)', async () => {
    const s = await spec('qcow-a');
    s.disks[0] = { ...s.disks[0]!, format: 'qcow2' };
    await assert.rejects(new FirecrackerDriver({ bin: fcBin }).launch(s), isCode('bad_request', /raw disks only/));
  });

  it('the boot arguments firecracker guests need are added to the command line', async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    const s = await spec('args-a');
    const h = await d.launch(s);
    handles.push(h);
    const consoleText = await readFile(s.consoleLog, 'utf8');
    assert.match(consoleText, /Command line: console=ttyS0 root=\/dev\/vda rw reboot=k pci=off/);
    await d.kill(h);
  });

  it('a graceful stop the guest ignores ends in a kill after the timeout', async () => {
    const stubborn = await installStandin(join(work, 'stubborn'), { powerOff: 'ignore' });
    const d = new FirecrackerDriver({ bin: stubborn });
    const h = await d.launch(await spec('stubborn-a'));
    handles.push(h);
    assert.equal(await d.shutdown(h, { timeoutMs: 300 }), 'killed');
    assert.equal(isAlive(h.pid), false);
  });

  it('snapshot contract: a paused VM is saved (memory + device state), resumed, and restored as a child on its own disks, tap and vsock socket', async () => {
    const record = join(work, 'snap-requests.jsonl');
    const bin = await installStandin(join(work, 'snap-bin'), { recordTo: record });
    const d = new FirecrackerDriver({ bin });
    const ops = d.snapshots;
    assert.equal(d.capabilities().snapshots, true);
    const s = await spec('snap-a');
    const h = await d.launch(s);
    handles.push(h);
    const mem = join(work, 'snap-a.mem');
    await assert.rejects(ops.saveState(h, mem), isCode('operation_failed', /firecracker refused PUT \/snapshot\/create: .*not paused/));
    assert.equal(await d.status(h), 'running');
    await ops.pause(h);
    assert.equal(await d.status(h), 'paused');
    const saved = await ops.saveState(h, mem);
    assert.deepEqual(saved, { driver: 'firecracker', version: 'firecracker 1.16.1', accel: 'kvm', memoryBytes: 4096, companions: ['.vmstate'] });
    for (const f of [mem, `${mem}.vmstate`]) assert.equal((await stat(f)).mode & 0o777, 0o600, `${f} is private`);
    await assert.rejects(ops.saveState(h, mem), isCode('already_exists'));
    const frozen = join(work, 'snap-frozen');
    await mkdir(frozen);
    for (const disk of s.disks) await ops.freezeDisk(disk, join(frozen, basename(disk.path)));
    await ops.resume(h);
    assert.equal(await d.status(h), 'running');
    await d.kill(h);
    const sourceCalls = (await readFile(record, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { method: string; path: string; body?: { state?: string } }).filter((r) => r.method === 'PATCH' || r.path.startsWith('/snapshot'));
    assert.deepEqual(sourceCalls.map((r) => `${r.method} ${r.path}${r.body?.state ? ` ${r.body.state}` : ''}`), ['PUT /snapshot/create', 'PATCH /vm Paused', 'PUT /snapshot/create', 'PATCH /vm Resumed']);
    // The source's disks are gone: the child must open its own.
    for (const disk of s.disks) await rm(disk.path);
    await writeFile(record, '');

    const c = await spec('snap-b');
    for (const disk of c.disks) {
      await rm(disk.path);
      await ops.createDiskOver({ ...disk, path: join(frozen, basename(disk.path)) }, disk.path);
    }
    const child = { ...c, network: { mode: 'tap' as const, tap: 'tap-snap-b', mac: '02:fc:00:00:00:02' } };
    const r = await ops.restore(child, mem);
    handles.push(r);
    assert.equal(await d.status(r), 'running');
    assert.equal(await d.adopt(r), true);
    assert.equal(await readlink(join(c.runDir, 'disk-root')), c.disks[0]!.path, 'the restored VM opens its own root disk');
    assert.equal(await guestHealthy(d.vsockPath(r)), true, 'the guest channel answers on the child\'s own vsock socket');
    const config = (await new FirecrackerApi(r.controlSocket).call('GET', '/vm/config')) as Record<string, { host_dev_name?: string }>;
    assert.equal(config['network-interfaces/eth0']?.host_dev_name, 'tap-snap-b', 'the child runs on its own tap');
    const childCalls = (await readFile(record, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { method: string; path: string; status: number }).filter((q) => q.method !== 'GET');
    assert.deepEqual(childCalls.map((q) => `${q.method} ${q.path} ${q.status}`), ['PUT /logger 204', 'PUT /metrics 204', 'PUT /snapshot/load 204']);
    await d.kill(r);
  });

  it('restore errors: missing state files, firecracker\'s fault_message, another firecracker version; nothing is left running', async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    const s = await spec('snaperr-a');
    const h = await d.launch(s);
    handles.push(h);
    const mem = join(work, 'snaperr.mem');
    await d.snapshots.pause(h);
    await d.snapshots.saveState(h, mem);
    await d.kill(h);
    const child = async (id: string) => spec(id);

    const c1 = await child('snaperr-b');
    await assert.rejects(d.snapshots.restore(c1, join(work, 'no-such.mem')), isCode('operation_failed', /cannot restore vm "snaperr-b": memory file ".*no-such\.mem" does not exist/));
    await rename(`${mem}.vmstate`, `${mem}.moved`);
    await assert.rejects(d.snapshots.restore(c1, mem), isCode('operation_failed', /device state file ".*snaperr\.mem\.vmstate" does not exist/));
    await rename(`${mem}.moved`, `${mem}.vmstate`);
    assert.deepEqual(processesIn(c1.runDir), []);

    const refusing = await installStandin(join(work, 'load-refusing'), { fault: { path: '/snapshot/load', message: 'Load snapshot error: Failed to restore from snapshot: Failed to build microVM from snapshot: Cannot set vCPU state' } });
    const c2 = await child('snaperr-c');
    await assert.rejects(new FirecrackerDriver({ bin: refusing }).snapshots.restore(c2, mem), isCode('operation_failed', /cannot restore vm "snaperr-c" from .*: firecracker refused PUT \/snapshot\/load: Load snapshot error: .*Cannot set vCPU state/));
    assert.deepEqual(processesIn(c2.runDir), []);
    await assert.rejects(stat(join(c2.runDir, 'control.sock')), 'no API socket is left behind');

    const other = await installStandin(join(work, 'fc-1.16.0'), { version: '1.16.0' });
    const c3 = await child('snaperr-d');
    await assert.rejects(new FirecrackerDriver({ bin: other }).snapshots.restore(c3, mem), isCode('operation_failed', /made by Firecracker v1\.16\.1, and this is v1\.16\.0/));
    assert.equal(await new FirecrackerDriver({ bin: other }).snapshots.stateVersion(), 'firecracker 1.16.0', 'the version a manifest is checked against before a restore');
    assert.deepEqual(processesIn(c3.runDir), []);
  });

  it('saving refuses an older firecracker, a refused snapshot/create, and a VM whose disks are named by their own paths', async () => {
    const older = await installStandin(join(work, 'fc-1.15'), { version: '1.15.2' });
    const o = new FirecrackerDriver({ bin: older });
    const ho = await o.launch(await spec('snapold-a'));
    handles.push(ho);
    await o.snapshots.pause(ho);
    await assert.rejects(o.snapshots.saveState(ho, join(work, 'old.mem')), isCode('unavailable', /snapshots need firecracker 1\.16 or newer.*1\.15\.2/));
    await o.kill(ho);

    const refusing = await installStandin(join(work, 'create-refusing'), { fault: { path: '/snapshot/create', message: 'Create snapshot error: No space left on device (os error 28)' } });
    const f = new FirecrackerDriver({ bin: refusing });
    const hf = await f.launch(await spec('snapfull-a'));
    handles.push(hf);
    await f.snapshots.pause(hf);
    await assert.rejects(f.snapshots.saveState(hf, join(work, 'full.mem')), isCode('operation_failed', /No space left on device/));
    for (const left of ['full.mem', 'full.mem.vmstate']) await assert.rejects(stat(join(work, left)), `${left}, partly written, is removed`);
    await f.snapshots.resume(hf);
    assert.equal(await f.status(hf), 'running');
    await f.kill(hf);

    const d = new FirecrackerDriver({ bin: fcBin });
    const s = await spec('snapabs-a');
    const h = await d.launch(s);
    handles.push(h);
    for (const n of ['disk-root', 'disk-work', 'disk-seed']) await rm(join(s.runDir, n));
    await d.snapshots.pause(h);
    await assert.rejects(d.snapshots.saveState(h, join(work, 'abs.mem')), isCode('operation_failed', /disks named by their own paths/));
    await d.kill(h);
  });

  it('diff snapshots work with dirty page tracking', async () => {
    const d = new FirecrackerDriver({ bin: fcBin, trackDirtyPages: true });
    const h = await d.launch(await spec('diff-a'));
    handles.push(h);
    await d.createSnapshot(h, { statePath: join(work, 'diff.state'), memPath: join(work, 'diff.mem') }, { type: 'Diff', leavePaused: true });
    assert.equal(await d.status(h), 'paused');
    await d.kill(h);
  });

  it('metrics: flushed on request and read back for vm stats', async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    const h = await d.launch(await spec('metrics-a'));
    handles.push(h);
    const m = await d.metrics(h);
    assert.equal(typeof (m.block as { read_bytes?: unknown }).read_bytes, 'number');
    assert.equal(typeof m.utc_timestamp_ms, 'number');
    await d.kill(h);
  });

  it('counters for vm stats: totals since boot, summed over every metrics flush', async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    const h = await d.launch(await spec('counters-a'));
    handles.push(h);
    // The stand-in flushes at InstanceStart and at each FlushMetrics, each line counting 4096 bytes read, 3 exits, 2000 bytes sent.
    assert.deepEqual(await d.counters(h), { vcpuExits: 6, blockReadBytes: 8192, blockWriteBytes: 16384, netRxBytes: 2000, netTxBytes: 4000 });
    assert.equal((await d.counters(h)).blockReadBytes, 12288, 'a later read includes the newer flush');
    await d.kill(h);
    await assert.rejects(d.counters(h), /not running/);
  });

  it('vsock guest channel: CONNECT handshake, health and ports through the VM\'s vsock socket', async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    const h = await d.launch(await spec('vsock-a'));
    handles.push(h);
    const uds = d.vsockPath(h);
    assert.equal(await guestHealthy(uds), true);
    assert.match(await guestChannel(uds, 'ports'), /^tcp +LISTEN .* 0\.0\.0\.0:22 .*users:\(\("sshd"/);
    assert.match(await d.guestChannel(h, 'health'), /^ok \d+\.\d+\n$/);
    await d.shutdown(h, { timeoutMs: 3000 });
    assert.equal(await guestHealthy(uds, { timeoutMs: 500 }), false);
    await assert.rejects(stat(uds), 'the vsock socket is removed with the VM');
  });

  it('ownProcesses finds firecracker processes by the VM directory of their API socket', async () => {
    const d = new FirecrackerDriver({ bin: fcBin });
    const h = await d.launch(await spec('own-a'));
    handles.push(h);
    const own = d.ownProcesses(work);
    assert.ok(own.some((p) => p.pid === h.pid && p.vmId === 'own-a'), JSON.stringify(own));
    assert.deepEqual(d.ownProcesses(join(work, 'elsewhere')), []);
    await d.kill(h);
  });
});
