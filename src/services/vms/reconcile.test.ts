/**
 * Reconcile and guests left paused: a VM the store says is running (or stopping) whose guest is paused
 * was held by an operation the daemon's death cut short (a snapshot, a suspend), so its CPUs run again;
 * a VM a user paused (stored as `paused`) stays paused. The driver here answers only what reconcile asks;
 * the same path with QEMU and a daemon killed mid-snapshot runs in src/e2e/warm.test.ts.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { HypervisorDriver, VMHandle, VMStatus } from '../../drivers/hypervisor.js';
import { vmFiles } from '../../model/filenames.js';
import type { StoredVMState } from '../../model/vm-state.js';
import type { VMRow } from '../../store/vms.js';
import type { VMServiceDeps } from './deps.js';
import { writeHandles } from './handles.js';
import { reconcile, type ReconcileHooks } from './reconcile.js';

const vmsDir = mkdtempSync('/tmp/brec-');

function row(n: number, state: StoredVMState): VMRow {
  const now = new Date().toISOString();
  return { id: `00000000000${n}`, name: `vm-${n}`, imageId: 'img', state, spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1 << 30, nat: false }, runtime: {}, createdAt: now, updatedAt: now };
}

/** A driver whose guests are all alive, each in the status given by pid; `cont` makes one run. */
function driver(statusByPid: Map<number, VMStatus>, conts: number[]): HypervisorDriver {
  return {
    capabilities: () => ({ name: 'qemu', accel: 'tcg', networkModes: ['user'], rootDiskFormat: 'qcow2', survivesDaemonRestart: true, snapshots: true }),
    adopt: () => Promise.resolve(true),
    status: (h: VMHandle) => Promise.resolve(statusByPid.get(h.pid) ?? 'gone'),
    ownProcesses: () => [],
    snapshots: {
      resume: (h: VMHandle) => {
        conts.push(h.pid);
        statusByPid.set(h.pid, 'running');
        return Promise.resolve();
      },
    },
  } as unknown as HypervisorDriver;
}

describe('reconcile of guests left paused', () => {
  after(() => rmSync(vmsDir, { recursive: true, force: true }));

  it('lets a running VM whose guest was left paused run again and sets its clock; leaves a user pause alone', async () => {
    const rows = [row(1, 'running'), row(2, 'paused'), row(3, 'running'), row(4, 'stopping')];
    const guest = new Map<number, VMStatus>([
      [1001, 'paused'],
      [1002, 'paused'],
      [1003, 'running'],
      [1004, 'paused'],
    ]);
    rows.forEach((r, i) => {
      const files = vmFiles(vmsDir, r.id);
      mkdirSync(files.dir, { recursive: true });
      writeHandles(files.handles, { driver: 'qemu', pid: 1001 + i, controlSocket: `${files.dir}/run/qmp.sock`, accel: 'tcg', startedAt: r.createdAt });
    });
    const conts: number[] = [];
    const d = driver(guest, conts);
    const clocks: string[] = [];
    const stopped: string[] = [];
    const deps = {
      repo: { list: () => rows },
      layout: { vmsDir },
      hypervisors: { forHandle: () => d, all: () => [d] },
      network: { sweep: () => Promise.resolve({ removed: [] }) },
      logger: { info: () => undefined, warn: () => undefined, debug: () => undefined },
    } as unknown as VMServiceDeps;
    const hooks: ReconcileHooks = {
      withLock: (_id, fn) => fn(),
      markStopped: (r) => Promise.resolve(void stopped.push(r.name)),
      destroy: () => Promise.resolve(),
      resumeStarting: () => Promise.resolve(),
      resumeStopping: () => Promise.resolve(),
      unpause: (_r, h, drv) => drv.snapshots!.resume(h),
      setClock: (r) => Promise.resolve(void clocks.push(r.name)),
    };
    const { report, settled } = await reconcile(deps, hooks);
    await settled;
    assert.deepEqual(report.adopted, ['vm-1', 'vm-2', 'vm-3', 'vm-4']);
    assert.deepEqual(stopped, []);
    assert.deepEqual(report.unpaused, ['vm-1', 'vm-4'], 'running and stopping VMs whose guest was paused run again');
    assert.deepEqual(conts, [1001, 1004]);
    assert.equal(guest.get(1002), 'paused', 'the VM a user paused stays paused');
    assert.equal(guest.get(1003), 'running');
    assert.deepEqual(clocks, ['vm-1'], 'the clock of the running VM that stood still is set; a stopping one is not');
  });
});
