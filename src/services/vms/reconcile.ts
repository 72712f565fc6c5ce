/**
 * At daemon start: make the store match reality. Live VMs are re-adopted by the driver their handle
 * names; dead ones are marked stopped with the reason; a VM whose create never finished is removed;
 * a VM that was starting gets its readiness wait again; a VM the store says is running (or stopping)
 * whose guest is paused (a snapshot or suspend was cut short while it held the CPUs) runs again: a
 * user's pause is stored as state `paused`, which is left alone; processes, directories and network
 * objects that no VM owns are removed. State changes go through the lifecycle module, under each VM's lock.
 *
 * @module
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { vmFiles } from '../../model/filenames.js';
import { isActive } from '../../model/vm-state.js';
import { signalProcess } from '../../system/proc.js';
import type { HypervisorDriver, VMHandle } from '../../drivers/hypervisor.js';
import type { VMRow } from '../../store/vms.js';
import type { VMServiceDeps } from './deps.js';
import { readHandles } from './handles.js';

export interface ReconcileReport {
  adopted: string[];
  stopped: string[];
  /** VMs whose create was cut short by the daemon stopping: removed. */
  removedUnfinished: string[];
  /** VMs that were starting: their readiness wait runs again in the background. */
  resumed: string[];
  /** VMs left paused by an interrupted snapshot or suspend: their CPUs run again. */
  unpaused: string[];
  removedDirs: string[];
  killedProcesses: number[];
  network: string[];
  /** What running VMs held on the host and could not get back (see the daemon log). */
  networkFailed?: string[];
}

/** What reconcile needs from the VM service: its lock, its teardown and a way to finish interrupted work. */
export interface ReconcileHooks {
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T>;
  /** Moves a VM whose process is gone to stopped, undoing what its run made. */
  markStopped(row: VMRow, reason: string): Promise<void>;
  /** Removes a VM completely. */
  destroy(row: VMRow): Promise<void>;
  /** Waits for a VM left starting to answer SSH (or fails it); runs under its lock. */
  resumeStarting(row: VMRow): Promise<void>;
  /** Finishes a stop that the daemon's exit interrupted. */
  resumeStopping(row: VMRow): Promise<void>;
  /** Lets a guest that no user paused run again (its CPUs were held by an interrupted operation). */
  unpause(row: VMRow, handle: VMHandle, driver: HypervisorDriver): Promise<void>;
  /** Sets a running guest's clock to the host's (after its CPUs stood still). */
  setClock(row: VMRow): Promise<void>;
}

export async function reconcile(deps: VMServiceDeps, hooks: ReconcileHooks): Promise<{ report: ReconcileReport; settled: Promise<void> }> {
  const report: ReconcileReport = { adopted: [], stopped: [], removedUnfinished: [], resumed: [], unpaused: [], removedDirs: [], killedProcesses: [], network: [] };
  const background: Promise<void>[] = [];
  for (const row of deps.repo.list()) {
    if (row.state === 'created') {
      await hooks.withLock(row.id, () => hooks.destroy(row));
      report.removedUnfinished.push(row.name);
      continue;
    }
    if (!isActive(row.state)) continue;
    const files = vmFiles(deps.layout.vmsDir, row.id);
    let reason = 'its process was gone when the daemon started';
    let alive = false;
    let adopted: { handle: VMHandle; driver: HypervisorDriver } | undefined;
    try {
      const handle = readHandles(files.handles);
      const driver = handle && deps.hypervisors.forHandle(handle);
      if (handle && driver && !driver.capabilities().survivesDaemonRestart) {
        reason = `the ${handle.driver} driver does not keep VMs across daemon restarts`;
        await driver.kill(handle, 'SIGKILL');
      } else if (handle && driver) {
        alive = await driver.adopt(handle);
        if (alive) adopted = { handle, driver };
      }
    } catch (err) {
      reason = `its handle could not be used: ${(err as Error).message}`;
    }
    if (!alive) {
      await hooks.withLock(row.id, () => hooks.markStopped(row, reason));
      report.stopped.push(row.name);
      continue;
    }
    report.adopted.push(row.name);
    if (adopted && (row.state === 'running' || row.state === 'stopping') && (await adopted.driver.status(adopted.handle)) === 'paused') {
      const { handle, driver } = adopted;
      try {
        await hooks.withLock(row.id, () => hooks.unpause(row, handle, driver));
        report.unpaused.push(row.name);
        // Its clock stood still while it was paused.
        if (row.state === 'running') {
          background.push(hooks.withLock(row.id, () => hooks.setClock(row)).catch((e: unknown) => deps.logger.debug('clock after unpause', { vm: row.name, error: (e as Error).message })));
        }
      } catch (err) {
        deps.logger.warn('could not let a VM left paused run again', { vm: row.name, error: (err as Error).message });
      }
    }
    if (row.state === 'starting') {
      report.resumed.push(row.name);
      background.push(hooks.withLock(row.id, () => hooks.resumeStarting(row)));
    } else if (row.state === 'stopping') {
      background.push(hooks.withLock(row.id, () => hooks.resumeStopping(row)));
    }
  }

  const known = new Set(deps.repo.list().map((r) => r.id));
  let entries: string[] = [];
  try {
    entries = readdirSync(deps.layout.vmsDir);
  } catch {
    entries = [];
  }
  for (const id of entries) {
    if (known.has(id)) continue;
    rmSync(join(deps.layout.vmsDir, id), { recursive: true, force: true });
    report.removedDirs.push(id);
  }

  const live = deps.repo.list().filter((r) => isActive(r.state));
  const liveIds = new Set(live.map((r) => r.id));
  for (const driver of deps.hypervisors.all()) {
    for (const { pid, vmId } of driver.ownProcesses(deps.layout.vmsDir)) {
      if (liveIds.has(vmId)) continue;
      if (signalProcess(pid, 'SIGKILL')) report.killedProcesses.push(pid);
    }
  }
  for (const driver of deps.hypervisors.all()) {
    // What drivers keep outside the VM directories (firecracker's jails), once their processes are gone.
    if (driver.sweep) report.removedDirs.push(...(await driver.sweep(liveIds)));
  }
  const swept = await deps.network.sweep(live);
  report.network = swept.removed;
  if (swept.failed?.length) {
    report.networkFailed = swept.failed;
    deps.logger.warn('the network of running vms could not be fully restored', { failed: swept.failed });
  }
  const settled = Promise.allSettled(background).then((results) => {
    for (const r of results) if (r.status === 'rejected') deps.logger.warn('resuming an interrupted operation failed', { error: r.reason as Error });
  });
  return { report, settled };
}
