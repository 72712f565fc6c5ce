/**
 * The crash loop's snapshot cases with QEMU: the daemon is killed (`BANGER_FAULT=<point>:crash`) at
 * every point of `vm snapshot create` and of a restore (`vm create --from`), as FAULT_POINTS lists
 * them; a fresh daemon must leave no stray QEMU, a store that matches reality (testing/invariants.ts),
 * no half-published snapshot (listed and restorable, or gone with its directory), the source VM
 * running and answering, and the user's next snapshot or restore must work. One booted source VM is
 * shared by every case; crashed restores are checked after the restart, and one restore at the end
 * proves the snapshot they were cut from still restores.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SnapshotInfo, VMInfo } from '../api/types.js';
import { resolveLayout, type Layout } from '../config/paths.js';
import { FAULT_ENV, FAULT_POINTS, type FaultPoint } from '../system/faults.js';
import { waitForExit } from '../system/proc.js';
import { banger, e2eSkipReason, processesUnder, type ProcResult } from '../testing/cli-process.js';
import { invariantViolations, vmmProcesses } from '../testing/invariants.js';
import { sharedImage, sharedImageSkipReason } from '../testing/shared-image.js';

const skip = e2eSkipReason() ?? sharedImageSkipReason();

describe('crash points of snapshot and restore with QEMU', { skip, timeout: 30 * 60_000 }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let layout: Layout;
  let srcId = '';

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
  const snapshots = async (): Promise<SnapshotInfo[]> => JSON.parse((await ok(['--json', 'vm', 'snapshot', 'list'])).stdout) as SnapshotInfo[];
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

  /** The source VM is running in its one QEMU, and its guest runs commands (its CPUs were not left stopped). */
  async function sourceUsable(when: string): Promise<void> {
    assert.equal((await show('src'))?.state, 'running', `src is running ${when}`);
    assert.deepEqual([...vmmProcesses(layout).keys()], [srcId], `only the source VM's QEMU runs ${when}`);
    const r = await banger(['vm', 'exec', 'src', '--', 'true'], env, 5 * 60_000);
    assert.equal(r.code, 0, `vm exec src -- true failed ${when} (${r.code}):\n${r.stderr}`);
  }

  /** Every snapshot directory belongs to a listed snapshot, and every listed one has its manifest. */
  function noHalfPublished(listed: SnapshotInfo[], when: string): void {
    const dirs = existsSync(layout.snapshotsDir) ? readdirSync(layout.snapshotsDir).sort() : [];
    assert.deepEqual(dirs, listed.map((s) => s.id).sort(), `snapshot directories are those of listed snapshots ${when}`);
    for (const s of listed) assert.ok(existsSync(join(s.dir, 'manifest.json')), `snapshot ${s.name} has its manifest ${when}`);
  }

  /** Restores the snapshot into a new VM, runs a command in it, and deletes it. */
  async function restoreWorks(snap: string): Promise<void> {
    await ok(['vm', 'create', '--from', snap, '--name', 'restored']);
    assert.equal((await show('restored'))?.state, 'running', `the VM restored from ${snap} runs`);
    await ok(['vm', 'exec', 'restored', '--', 'true']);
    await ok(['vm', 'delete', 'restored']);
  }

  before(async () => {
    const img = await sharedImage();
    home = mkdtempSync('/tmp/bqs-');
    env = { BANGER_HOME: home };
    layout = resolveLayout({ env });
    writeFileSync(join(home, 'config.toml'), 'ssh_wait_timeout = "20m"\nwarm_pool = false\n[vm_defaults]\nvcpu = 1\nmemory_mib = 512\ndisk_size = "1G"\n');
    await ok(['image', 'register', '--name', 'deb', '--rootfs', img.rootfsPath, '--kernel', img.kernelPath, '--initrd', img.initrdPath]);
    await ok(['vm', 'create', '--name', 'src', '--image', 'deb']);
    srcId = (await show('src'))!.id;
  });
  after(async () => {
    if (!home) return;
    await banger(['daemon', 'stop'], env, 60_000);
    for (const pid of processesUnder(home)) process.kill(pid, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  for (const point of FAULT_POINTS['vm.snapshot']) {
    it(`a daemon killed in vm snapshot create at ${point} leaves no half-published snapshot and a running source, and the next snapshot works`, async () => {
      await crashAt(point, ['vm', 'snapshot', 'create', 'src', '--name', 'snap']);
      await restart('src');
      sound(`${point}:crash and a restart`);
      const listed = await snapshots();
      noHalfPublished(listed, `after ${point}:crash`);
      await sourceUsable(`after ${point}:crash`);
      if (listed.some((s) => s.name === 'snap')) {
        await restoreWorks('snap');
        await ok(['vm', 'snapshot', 'delete', 'snap']);
      }

      await ok(['vm', 'snapshot', 'create', 'src', '--name', 'snap']);
      const again = await snapshots();
      assert.deepEqual(again.map((s) => s.name), ['snap'], 'the snapshot taken after the crash is listed');
      noHalfPublished(again, `after the snapshot that followed ${point}:crash`);
      await sourceUsable(`after the snapshot that followed ${point}:crash`);
      await ok(['vm', 'snapshot', 'delete', 'snap']);
      sound(`the snapshot after ${point}:crash`);
    });
  }

  for (const point of FAULT_POINTS['vm.restore']) {
    it(`a daemon killed in vm create --from at ${point} leaves no half-restored VM and a snapshot nobody uses`, async () => {
      if (!(await snapshots()).some((s) => s.name === 'base')) await ok(['vm', 'snapshot', 'create', 'src', '--name', 'base']);
      await crashAt(point, ['vm', 'create', '--from', 'base', '--name', 'restored']);
      const vm = await restart('restored');
      assert.equal(vm, undefined, `the restore cut short at ${point} is removed, so its name is free again`);
      await new Promise((r) => setTimeout(r, 200));
      sound(`${point}:crash and a restart`);
      const listed = await snapshots();
      noHalfPublished(listed, `after ${point}:crash`);
      assert.deepEqual(listed.find((s) => s.name === 'base')?.usedBy, [], `no VM is recorded over base after ${point}:crash`);
      await sourceUsable(`after ${point}:crash`);
    });
  }

  it('after the crashed restores, the snapshot still restores and can be deleted', async () => {
    await restoreWorks('base');
    await ok(['vm', 'snapshot', 'delete', 'base']);
    noHalfPublished(await snapshots(), 'after the snapshot was deleted');
    await sourceUsable('at the end');
    sound('the restore after the crashes');
  });
});
