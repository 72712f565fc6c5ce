import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countersLines } from './stats.js';

const base = { name: 'dev', state: 'running' as const, memoryMiB: 1024, vcpu: 2 };

void test('vm stats prints the hypervisor counters it got, or why they could not be read, and nothing for QEMU VMs', () => {
  assert.deepEqual(countersLines(base), []);
  assert.deepEqual(countersLines({ ...base, counters: { vcpuExits: 6, blockReadBytes: 8192, blockWriteBytes: 16384, netRxBytes: 2000, netTxBytes: 4000 } }), [
    'vcpu exits   6',
    'block        read 8K, written 16K',
    'net          received 2.0K, sent 3.9K',
  ]);
  assert.deepEqual(countersLines({ ...base, counters: { vcpuExits: 1 } }), ['vcpu exits   1']);
  assert.deepEqual(countersLines({ ...base, countersError: 'firecracker wrote no metrics to /x/metrics.json' }), ['hypervisor counters unavailable: firecracker wrote no metrics to /x/metrics.json']);
});
