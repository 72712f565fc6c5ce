/**
 * The crash loop's QEMU case: the daemon is killed (`BANGER_FAULT=<point>:crash`) once in a create,
 * right after QEMU was launched and before its handle was written, and once in a delete, right after
 * QEMU was ended; a fresh daemon must leave no QEMU process behind, a store that matches reality
 * (testing/invariants.ts), and the user's next create and delete must work. One full boot of the
 * shared debian-bookworm image; the crashed create's QEMU is cut short by the next daemon.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VMInfo } from '../api/types.js';
import { resolveLayout, type Layout } from '../config/paths.js';
import { FAULT_ENV, type FaultPoint } from '../system/faults.js';
import { waitForExit } from '../system/proc.js';
import { banger, e2eSkipReason, processesUnder, type ProcResult } from '../testing/cli-process.js';
import { invariantViolations, vmmProcesses } from '../testing/invariants.js';
import { sharedImage, sharedImageSkipReason } from '../testing/shared-image.js';

const skip = e2eSkipReason() ?? sharedImageSkipReason();

describe('crash points with QEMU', { skip, timeout: 40 * 60_000 }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let layout: Layout;

  const ok = async (args: string[]): Promise<ProcResult> => {
    const r = await banger(args, env, 20 * 60_000);
    assert.equal(r.code, 0, `banger ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
    return r;
  };
  const show = async (name: string): Promise<VMInfo | undefined> => {
    const r = await banger(['--json', 'vm', 'show', name], env);
    if (r.code === 3) return undefined;
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as VMInfo;
  };
  const sound = (when: string) => assert.deepEqual(invariantViolations(layout), [], `after ${when}`);

  /** Runs the command in a daemon started with the fault set; returns once that daemon is dead. */
  async function crashAt(point: FaultPoint, args: string[]): Promise<void> {
    await ok(['daemon', 'stop']);
    const r = await banger(args, { ...env, [FAULT_ENV]: `${point}:crash` }, 20 * 60_000);
    assert.notEqual(r.code, 0, `banger ${args.join(' ')} finished although the daemon was to die at ${point}:\n${r.stdout}`);
    const pid = Number(readFileSync(layout.pidFile, 'utf8'));
    assert.equal(await waitForExit(pid, 10_000), true, `the daemon survived ${point}:crash`);
  }

  /** Starts a fresh daemon (it reconciles before it answers) and waits until no VM is starting or stopping. */
  async function restart(name: string): Promise<VMInfo | undefined> {
    await ok(['vm', 'list']);
    for (let i = 0; i < 600; i++) {
      const vm = await show(name);
      if (vm?.state !== 'starting' && vm?.state !== 'stopping') return vm;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`vm ${name} stayed starting or stopping`);
  }

  async function noQemuLeft(when: string): Promise<void> {
    for (let i = 0; i < 50 && processesUnder(home).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesUnder(home), [], `no QEMU process is left ${when}`);
  }

  before(async () => {
    const img = await sharedImage();
    home = mkdtempSync('/tmp/bq-');
    env = { BANGER_HOME: home };
    layout = resolveLayout({ env });
    writeFileSync(join(home, 'config.toml'), 'ssh_wait_timeout = "20m"\nwarm_pool = false\n[vm_defaults]\nvcpu = 1\nmemory_mib = 512\ndisk_size = "1G"\n');
    await ok(['image', 'register', '--name', 'deb', '--rootfs', img.rootfsPath, '--kernel', img.kernelPath, '--initrd', img.initrdPath]);
  });
  after(async () => {
    if (!home) return;
    await banger(['daemon', 'stop'], env, 60_000);
    for (const pid of processesUnder(home)) process.kill(pid, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('a daemon killed in vm create just after QEMU launched leaves no QEMU behind, and the next create boots', async () => {
    await crashAt('boot.launched', ['vm', 'create', '--name', 'victim', '--image', 'deb']);
    assert.notDeepEqual(processesUnder(home), [], 'QEMU was running when the daemon died');
    const vm = await restart('victim');
    await noQemuLeft('after the fresh daemon reconciled');
    assert.notEqual(vm?.state, 'running', 'a VM whose handle was never written is not reported running');
    sound('boot.launched:crash and a restart');

    if (vm) await ok(['vm', 'delete', 'victim']);
    await ok(['vm', 'create', '--name', 'victim', '--image', 'deb']);
    const running = await show('victim');
    assert.equal(running?.state, 'running');
    assert.deepEqual([...vmmProcesses(layout).keys()], [running.id], 'the new VM runs in QEMU, and the invariants see its process');
    sound('the create after the crash');
  });

  it('a daemon killed in vm delete just after QEMU ended leaves no QEMU behind, and the next delete and create work', async () => {
    assert.equal((await show('victim'))?.state, 'running', 'the VM from the previous case runs');
    await crashAt('delete.ended', ['vm', 'delete', 'victim']);
    const vm = await restart('victim');
    await noQemuLeft('after a delete was cut short');
    assert.notEqual(vm?.state, 'running', 'a VM whose QEMU was ended is not reported running');
    sound('delete.ended:crash and a restart');

    if (vm) await ok(['vm', 'delete', 'victim']);
    assert.equal(await show('victim'), undefined);
    assert.deepEqual(readdirSync(layout.vmsDir), [], 'no VM directory is left');
    await ok(['vm', 'create', '--name', 'victim', '--image', 'deb', '--no-start']);
    assert.equal((await show('victim'))?.state, 'stopped');
    await ok(['vm', 'delete', 'victim']);
    sound('the delete and create after the crash');
  });
});
