import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromQemuProbe, loadKvmProbe } from './kvm-probe.js';

test('fromQemuProbe: KVM counts only when the driver picked it', () => {
  assert.deepEqual(fromQemuProbe({ available: true, accel: 'kvm', reason: 'kvm: probe guest ran in 40ms' }), {
    usable: true,
    guestsBoot: true,
    detail: 'kvm: probe guest ran in 40ms',
  });
  assert.deepEqual(fromQemuProbe({ available: true, accel: 'tcg', reason: 'kvm: /dev/kvm present but ...; using tcg' }), {
    usable: false,
    guestsBoot: true,
    detail: 'kvm: /dev/kvm present but ...; using tcg',
  });
  assert.deepEqual(fromQemuProbe({ available: false, reason: 'qemu-system-x86_64 not found', fixHint: 'apt-get install qemu-system-x86 qemu-utils' }), {
    usable: false,
    guestsBoot: false,
    detail: 'qemu-system-x86_64 not found',
    fix: 'apt-get install qemu-system-x86 qemu-utils',
  });
});

test('loadKvmProbe loads the QEMU driver probe', async () => {
  assert.equal(typeof (await loadKvmProbe()), 'function');
});
