import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeBin, fakeDoctorEnv } from '../testing.js';
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

test('kvm-usable: no probe warns "not probed yet"', async () => {
  const r = await checkKvmUsable(env());
  assert.equal(r.status, 'WARN');
  assert.match(r.details[0]!, /not probed yet/);
});

test('kvm-usable: the probe decides, and gets the qemu found by the doctor', async () => {
  const bin = fakeBin({ 'qemu-system-x86_64': 'QEMU emulator version 7.2.0' });
  let seen: string | undefined;
  const ok = await checkKvmUsable(fakeDoctorEnv(bin), (o) => {
    seen = o.qemuPath;
    return Promise.resolve({ usable: true, guestsBoot: true, detail: 'kvm: probe guest ran in 40ms' });
  });
  assert.equal(seen, `${bin}/qemu-system-x86_64`);
  assert.deepEqual(ok, { name: 'kvm-usable', status: 'PASS', details: ['a test guest ran with KVM', 'kvm: probe guest ran in 40ms'] });
  const tcgOnly = await checkKvmUsable(fakeDoctorEnv(bin), () => Promise.resolve({ usable: false, guestsBoot: true, detail: 'kvm: timed out' }));
  assert.equal(tcgOnly.status, 'WARN');
  assert.equal(tcgOnly.details[1], 'kvm: timed out');
  const nothing = await checkKvmUsable(fakeDoctorEnv(bin), () => Promise.resolve({ usable: false, guestsBoot: false }));
  assert.equal(nothing.status, 'FAIL');
  assert.equal(nothing.fix, 'reinstall qemu (apt-get install qemu-system-x86 qemu-utils)');
  const broken = await checkKvmUsable(fakeDoctorEnv(bin), () => Promise.reject(new Error('boom')));
  assert.equal(broken.status, 'WARN');
  assert.match(broken.details[0]!, /boom/);
});

test('kvm-usable: without qemu the probe is not run', async () => {
  let ran = false;
  const r = await checkKvmUsable(env(), () => {
    ran = true;
    return Promise.resolve({ usable: true, guestsBoot: true });
  });
  assert.equal(ran, false);
  assert.equal(r.status, 'WARN');
  assert.match(r.details[0]!, /qemu-system-x86_64 not found/);
});

test('kvm-usable: without an accessible /dev/kvm the probe is not run', async () => {
  let ran = false;
  const r = await checkKvmUsable(env({ exists: () => false }), () => {
    ran = true;
    return Promise.resolve({ usable: true, guestsBoot: true });
  });
  assert.equal(ran, false);
  assert.equal(r.status, 'WARN');
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

