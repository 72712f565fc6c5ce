/**
 * A snapshot that fails after the guest was paused lets it run again, with --stop too (the process is
 * ended only after a snapshot that succeeded), and keeps no files. The driver here records the steps;
 * the same with QEMU runs in src/e2e/warm.test.ts.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HypervisorDriver, VMHandle } from '../../drivers/hypervisor.js';
import { vmFiles } from '../../model/filenames.js';
import type { VMRow } from '../../store/vms.js';
import { quietContext } from '../op-context.js';
import type { VMServiceDeps } from './deps.js';
import { takeSnapshot } from './snapshot-create.js';

const dir = mkdtempSync('/tmp/bsnapc-');
const vmsDir = join(dir, 'vms');
const snapshotsDir = join(dir, 'snapshots');
const now = new Date().toISOString();
const row: VMRow = { id: 'abcdef012345', name: 'src', imageId: 'img', state: 'running', spec: { vcpu: 1, memoryMiB: 256, diskSizeBytes: 1 << 30, nat: false }, runtime: {}, createdAt: now, updatedAt: now };
const handle: VMHandle = { driver: 'qemu', pid: 4242, controlSocket: '/run/none.sock', accel: 'tcg', startedAt: now };

function driver(steps: string[], failAt: string): HypervisorDriver {
  const step = (name: string) => {
    steps.push(name);
    return name === failAt ? Promise.reject(new Error(`${name} failed`)) : Promise.resolve();
  };
  return {
    capabilities: () => ({ name: 'qemu', snapshots: true }),
    snapshots: {
      pause: () => step('pause'),
      resume: () => step('resume'),
      saveState: async (_h: VMHandle, file: string) => {
        await step('save');
        writeFileSync(file, 'state');
        return { driver: 'qemu', version: 'v', accel: 'tcg', memoryBytes: 5 };
      },
      freezeDisk: async () => {
        await step('freeze');
        return {};
      },
    },
  } as unknown as HypervisorDriver;
}

describe('a snapshot that fails after the pause', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const stop of [false, true]) {
    it(`resumes the guest and removes its files${stop ? ' (with --stop)' : ''}`, async () => {
      const files = vmFiles(vmsDir, row.id);
      mkdirSync(files.dir, { recursive: true });
      writeFileSync(files.rootDisk('qcow2'), '');
      mkdirSync(snapshotsDir, { recursive: true });
      const deps = {
        layout: { vmsDir, snapshotsDir },
        images: { byId: () => ({ id: 'img', name: 'img', kernelPath: '/k' }) },
        logger: { warn: () => undefined },
      } as unknown as VMServiceDeps;
      const steps: string[] = [];
      await assert.rejects(takeSnapshot(deps, driver(steps, 'freeze'), row, handle, { id: `s${Number(stop)}`, name: 'snap', stop }, quietContext()), /freeze failed/);
      assert.deepEqual(steps, ['pause', 'save', 'freeze', 'resume']);
      assert.deepEqual(readdirSync(snapshotsDir), [], 'no staging directory is left');
    });
  }
});
