import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { HypervisorVerdictInfo } from '../../api/types.js';
import { resolveLayout } from '../../config/paths.js';
import { hostDoctorEnv } from '../env.js';
import { fakeBin, fakeDoctorEnv, tempDir } from '../testing.js';
import { checkArchitecture } from './architecture.js';
import { checkDiskSpace } from './disk-space.js';
import { checkKernel } from './kernel.js';
import { checkDebianKeyring, DEBIAN_KEYRING } from './keyring.js';
import { checkKvmDevice, checkKvmUsable } from './kvm.js';

const GiB = 1024 ** 3;
const env = (o: Parameters<typeof fakeDoctorEnv>[1] = {}) => fakeDoctorEnv(fakeBin({}), o);

test('architecture: x86_64 passes, anything else fails', () => {
  assert.deepEqual(checkArchitecture(env()), { name: 'architecture', status: 'PASS', details: ['x86_64'] });
  const arm = checkArchitecture(env({ machine: 'aarch64' }));
  assert.equal(arm.status, 'FAIL');
  assert.match(arm.details[0]!, /^aarch64: /);
  assert.ok(arm.fix);
});

test('kernel: reports the release; older than 5.10 warns', () => {
  assert.deepEqual(checkKernel(env()), { name: 'kernel', status: 'PASS', details: ['6.1.0-18-amd64'] });
  assert.equal(checkKernel(env({ release: '4.19.0-26-amd64' })).status, 'WARN');
});

test('kvm-device: missing and inaccessible warn with a fix; read-write passes', () => {
  const missing = checkKvmDevice(env({ exists: () => false }));
  assert.equal(missing.status, 'WARN');
  assert.match(missing.fix!, /modprobe kvm_intel/);
  const denied = checkKvmDevice(env({ canAccess: () => false, env: { USER: 'alice', BANGER_HOME: '/tmp/x' } }));
  assert.equal(denied.status, 'WARN');
  assert.equal(denied.fix, 'sudo usermod -aG kvm alice (then log in again)');
  assert.equal(checkKvmDevice(env()).status, 'PASS');
});

const KVM_VERDICT: HypervisorVerdictInfo = {
  probed: true,
  accel: 'kvm',
  reason: 'kvm: probe guest ran in 40ms (tcg: probe guest ran in 900ms)',
  probedAt: '2026-01-02T03:04:05.000Z',
  current: true,
};
const verdictEnv = (v: HypervisorVerdictInfo | undefined, o: Parameters<typeof fakeDoctorEnv>[1] = {}) => env({ hypervisorVerdict: () => Promise.resolve(v), ...o });

test('kvm-usable: without a running daemon it is "not probed yet", and says when /dev/kvm is out of reach', async () => {
  assert.deepEqual(await checkKvmUsable(env()), {
    name: 'kvm-usable',
    status: 'WARN',
    details: ['not probed yet: bangerd is not running; the next VM start decides between KVM and TCG'],
  });
  const noDevice = await checkKvmUsable(env({ exists: () => false }));
  assert.equal(noDevice.status, 'WARN');
  assert.equal(noDevice.details[1], '/dev/kvm is not usable by this user (see kvm-device): expect TCG');
});

test('kvm-usable: a daemon that has not probed yet, or probed another QEMU/kernel, is "not probed yet"', async () => {
  const fresh = await checkKvmUsable(verdictEnv({ probed: false }));
  assert.equal(fresh.status, 'WARN');
  assert.equal(fresh.details[0], 'not probed yet: bangerd has not started a VM yet; the next VM start decides between KVM and TCG');
  const stale = await checkKvmUsable(verdictEnv({ ...KVM_VERDICT, current: false }));
  assert.equal(stale.status, 'WARN');
  assert.match(stale.details[0]!, /^not probed yet: QEMU, the kernel or \/dev\/kvm changed since bangerd's kvm verdict of 2026-01-02/);
});

test("kvm-usable: the daemon's current verdict decides", async () => {
  assert.deepEqual(await checkKvmUsable(verdictEnv(KVM_VERDICT)), {
    name: 'kvm-usable',
    status: 'PASS',
    details: ['a test guest ran with KVM', `${KVM_VERDICT.reason} (probed 2026-01-02T03:04:05.000Z)`],
  });
  const tcg = await checkKvmUsable(verdictEnv({ ...KVM_VERDICT, accel: 'tcg', reason: 'kvm: /dev/kvm present but timed out; using tcg (slow)' }));
  assert.equal(tcg.status, 'WARN');
  assert.match(tcg.details[0]!, /qemu uses TCG/);
  assert.match(tcg.details[1]!, /^kvm: \/dev\/kvm present but timed out/);
  assert.match(tcg.fix!, /nested virtualization/);
  // The daemon's verdict counts even when this user cannot open /dev/kvm (bangerd may run as a service).
  assert.equal((await checkKvmUsable(verdictEnv(KVM_VERDICT, { canAccess: () => false }))).status, 'PASS');
});

test('kvm-usable: a daemon that cannot say warns and suggests restarting it', async () => {
  const r = await checkKvmUsable(env({ hypervisorVerdict: () => Promise.reject(new Error('no API route GET /v1/hypervisor')) }));
  assert.equal(r.status, 'WARN');
  assert.match(r.details[0]!, /no API route/);
  assert.match(r.fix!, /banger daemon stop/);
});

test('kvm-usable: asks the daemon on its socket for GET /v1/hypervisor, without starting one', async () => {
  const dir = tempDir('banger-doctor-');
  const layout = resolveLayout({ env: { BANGER_HOME: dir } });
  mkdirSync(layout.runtimeDir, { recursive: true });
  const urls: string[] = [];
  const server = createServer((req, res) => {
    urls.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(KVM_VERDICT));
  });
  await new Promise<void>((r) => server.listen(layout.socketPath, r));
  const host = () => ({ ...hostDoctorEnv({ env: { BANGER_HOME: dir, PATH: '' } }), exists: () => true, canAccess: () => true });
  try {
    assert.equal((await checkKvmUsable(host())).status, 'PASS');
    assert.deepEqual(urls, ['/v1/hypervisor']);
  } finally {
    await new Promise((r) => server.close(r));
  }
  assert.match((await checkKvmUsable(host())).details[0]!, /bangerd is not running/);
});

test('debian-archive-keyring: present passes, missing fails with the apt-get line', () => {
  assert.deepEqual(checkDebianKeyring(env()), { name: 'debian-archive-keyring', status: 'PASS', details: [DEBIAN_KEYRING] });
  const r = checkDebianKeyring(env({ exists: () => false }));
  assert.equal(r.status, 'FAIL');
  assert.equal(r.fix, 'apt-get install debian-archive-keyring');
});

test('disk-space: PASS from 10 GiB, WARN below, FAIL below 2 GiB', () => {
  const at = (bytes: number) => checkDiskSpace(env({ freeSpace: (p) => ({ available: bytes, measured: p }) })).status;
  assert.equal(at(50 * GiB), 'PASS');
  assert.equal(at(10 * GiB), 'PASS');
  assert.equal(at(10 * GiB - 1), 'WARN');
  assert.equal(at(2 * GiB), 'WARN');
  assert.equal(at(2 * GiB - 1), 'FAIL');
  const r = checkDiskSpace(env({ freeSpace: () => ({ available: GiB, measured: '/' }) }));
  assert.match(r.details[0]!, /^1\.0 GiB free for .*\(measured at \/\)$/);
  assert.match(r.fix!, /BANGER_HOME/);
});

