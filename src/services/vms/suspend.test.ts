/**
 * Loading a suspended VM's saved state refuses what it cannot load: missing files, a driver without
 * snapshots, state saved by another hypervisor version. (Suspend and start with QEMU run in
 * src/e2e/warm.test.ts; here a driver object answers only what the check asks.)
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { BangerError } from '../../api/errors.js';
import type { HypervisorDriver } from '../../drivers/hypervisor.js';
import { vmFiles } from '../../model/filenames.js';
import type { VMRow } from '../../store/vms.js';
import type { VMServiceDeps } from './deps.js';
import { discardSuspended, suspendedInput, type SuspendMeta } from './suspend.js';

const vmsDir = mkdtempSync('/tmp/bsusp-');
const deps = { layout: { vmsDir } } as unknown as VMServiceDeps;
const row = { id: 'abc123', name: 'dev' } as VMRow;
const files = vmFiles(vmsDir, row.id);

function driver(version: string | undefined): HypervisorDriver {
  return {
    capabilities: () => ({ name: 'qemu', snapshots: version !== undefined }),
    ...(version !== undefined ? { snapshots: { stateVersion: () => Promise.resolve(version) } } : {}),
  } as unknown as HypervisorDriver;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => {
      assert.ok(e instanceof BangerError);
      return `${e.code}: ${e.message} | ${e.hint ?? ''}`;
    },
  );
}

describe('loading a suspended VM', () => {
  after(() => rmSync(vmsDir, { recursive: true, force: true }));

  it('refuses when the saved state is missing, saying how to boot it fresh', async () => {
    mkdirSync(files.dir, { recursive: true });
    assert.match(await refusal(suspendedInput(deps, driver('qemu 7.2.22'), row)), /^operation_failed: the saved state of suspended vm dev is missing \| discard the saved state with banger vm stop dev/);
  });

  it('refuses state saved by another QEMU version, and a driver without snapshots', async () => {
    const meta: SuspendMeta = { driver: 'qemu', version: 'qemu 7.2.1', accel: 'tcg', kernelPath: '/k', cmdline: 'console=ttyS0', savedAt: new Date().toISOString() };
    writeFileSync(files.suspendedMeta, JSON.stringify(meta));
    writeFileSync(files.suspendedState, 'state');
    assert.match(await refusal(suspendedInput(deps, driver('qemu 8.0.0'), row)), /vm dev was suspended by qemu \(qemu 7\.2\.1\); this host runs qemu \(qemu 8\.0\.0\), which cannot load it/);
    assert.match(await refusal(suspendedInput(deps, driver(undefined), row)), /^unavailable: the qemu driver cannot load a suspended VM/);
    const ok = await suspendedInput(deps, driver('qemu 7.2.1'), row);
    assert.deepEqual(ok, { memoryFile: files.suspendedState, kernelPath: '/k', cmdline: 'console=ttyS0' });
  });

  it('state with a device state file beside it (firecracker) needs that file, and discarding removes both', async () => {
    const meta: SuspendMeta = { driver: 'qemu', version: 'v1', accel: 'kvm', kernelPath: '/k', cmdline: 'c', savedAt: new Date().toISOString(), companions: ['.vmstate'] };
    writeFileSync(files.suspendedMeta, JSON.stringify(meta));
    writeFileSync(files.suspendedState, 'memory');
    assert.match(await refusal(suspendedInput(deps, driver('v1'), row)), /^operation_failed: the saved state of suspended vm dev is incomplete: missing .*suspended.*\.vmstate/);
    writeFileSync(files.suspendedState + '.vmstate', 'state');
    assert.equal((await suspendedInput(deps, driver('v1'), row)).memoryFile, files.suspendedState);
    discardSuspended(deps, row);
    for (const f of [files.suspendedState, files.suspendedState + '.vmstate', files.suspendedMeta]) assert.equal(existsSync(f), false, `${f} removed`);
  });
});
