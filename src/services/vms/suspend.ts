/**
 * Suspend to disk: the VM's memory and device state go to a file in its own directory and its process
 * ends; the next start loads that state instead of booting (same disks, same identity). The state file
 * is written under a temporary name and published by rename, with a small JSON beside it that says what
 * the state needs to load again (hypervisor version, kernel, initrd, command line). This module writes
 * no VM state; vm-service moves the VM through the lifecycle.
 *
 * @module
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { operationFailed } from '../../api/errors.js';
import type { HypervisorDriver, VMHandle } from '../../drivers/hypervisor.js';
import { bootArgs } from '../../guest/cmdline.js';
import { snapshotFiles, vmFiles } from '../../model/filenames.js';
import { guestHostname } from '../../model/vm-name.js';
import type { VMRow } from '../../store/vms.js';
import type { OpContext } from '../op-context.js';
import type { RestoreInput } from './boot.js';
import type { VMServiceDeps } from './deps.js';
import { readManifest } from './snapshot-manifest.js';
import { snapshotOps } from './snapshot-create.js';

export interface SuspendMeta {
  driver: string;
  version: string;
  accel: string;
  kernelPath: string;
  initrdPath?: string;
  cmdline: string;
  savedAt: string;
  /** Suffixes of the files beside the state file that belong to it (SavedState.companions). */
  companions?: string[];
}

/** The state file and the files the driver keeps beside it. */
function withCompanions(path: string, companions: readonly string[] = []): string[] {
  return [path, ...companions.map((c) => path + c)];
}

function metaOf(path: string): SuspendMeta | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SuspendMeta;
  } catch {
    return undefined;
  }
}

/** The kernel, initrd and command line the VM's current process was started with. */
async function launchInputs(deps: VMServiceDeps, row: VMRow): Promise<Omit<RestoreInput, 'memoryFile'>> {
  const snapId = deps.snapshots.snapshotOf(row.id);
  const snap = snapId ? deps.snapshots.get(snapId, true) : undefined;
  if (snap) {
    const m = (await readManifest(snapshotFiles(deps.layout.snapshotsDir, snap.id).manifest)).machine;
    return { kernelPath: m.kernelPath, ...(m.initrdPath ? { initrdPath: m.initrdPath } : {}), cmdline: m.cmdline };
  }
  const image = deps.images.byId(row.imageId);
  if (!image?.kernelPath) throw operationFailed(`image ${row.imageId} of vm ${row.name} is gone`);
  return { kernelPath: image.kernelPath, ...(image.initrdPath ? { initrdPath: image.initrdPath } : {}), cmdline: bootArgs({ hostname: guestHostname(row.name) }) };
}

/** Pauses the VM and saves its state beside its disks; the caller ends the process. On failure the VM runs on. */
export async function saveSuspended(deps: VMServiceDeps, driver: HypervisorDriver, row: VMRow, handle: VMHandle, wasPaused: boolean, ctx: OpContext): Promise<void> {
  const ops = snapshotOps(driver, 'suspend VMs');
  const files = vmFiles(deps.layout.vmsDir, row.id);
  const inputs = await launchInputs(deps, row);
  const partial = join(files.dir, '.suspended.state.partial');
  let companions: string[] = [];
  const clear = () => withCompanions(partial, companions).forEach((f) => rmSync(f, { force: true }));
  clear();
  if (!wasPaused) await ctx.stage('pause', `pausing ${row.name}`, () => ops.pause(handle));
  try {
    const saved = await ctx.stage('memory', 'saving memory and device state', () => ops.saveState(handle, partial, { signal: ctx.signal }));
    companions = saved.companions ?? [];
    const meta: SuspendMeta = { driver: saved.driver, version: saved.version, accel: saved.accel, ...inputs, savedAt: new Date().toISOString(), ...(companions.length ? { companions } : {}) };
    writeFileSync(files.suspendedMeta, JSON.stringify(meta, null, 2) + '\n', { mode: 0o600 });
    for (const c of companions) renameSync(partial + c, files.suspendedState + c);
    renameSync(partial, files.suspendedState);
  } catch (err) {
    clear();
    rmSync(files.suspendedMeta, { force: true });
    if (!wasPaused) await ops.resume(handle).catch((e: unknown) => deps.logger.warn('resume after failed suspend', { vm: row.name, error: e }));
    throw err;
  }
}

/** The restore input for a suspended VM, refusing state this driver and version cannot load. */
export async function suspendedInput(deps: VMServiceDeps, driver: HypervisorDriver, row: VMRow): Promise<RestoreInput> {
  const files = vmFiles(deps.layout.vmsDir, row.id);
  const fix = `discard the saved state with banger vm stop ${row.name}, then banger vm start ${row.name} boots it`;
  if (!existsSync(files.suspendedState) || !existsSync(files.suspendedMeta)) {
    throw operationFailed(`the saved state of suspended vm ${row.name} is missing`, fix);
  }
  const meta = JSON.parse(readFileSync(files.suspendedMeta, 'utf8')) as SuspendMeta;
  const missing = withCompanions(files.suspendedState, meta.companions).filter((f) => !existsSync(f));
  if (missing.length > 0) throw operationFailed(`the saved state of suspended vm ${row.name} is incomplete: missing ${missing.join(', ')}`, fix);
  const ops = snapshotOps(driver, 'load a suspended VM');
  const version = await ops.stateVersion();
  if (meta.driver !== driver.capabilities().name || meta.version !== version) {
    throw operationFailed(`vm ${row.name} was suspended by ${meta.driver} (${meta.version}); this host runs ${driver.capabilities().name} (${version}), which cannot load it`, fix);
  }
  return { memoryFile: files.suspendedState, kernelPath: meta.kernelPath, ...(meta.initrdPath ? { initrdPath: meta.initrdPath } : {}), cmdline: meta.cmdline };
}

/** Removes a suspended VM's saved state (after it was loaded, or to boot it fresh). */
export function discardSuspended(deps: Pick<VMServiceDeps, 'layout'>, row: VMRow): void {
  const files = vmFiles(deps.layout.vmsDir, row.id);
  for (const f of withCompanions(files.suspendedState, metaOf(files.suspendedMeta)?.companions)) rmSync(f, { force: true });
  rmSync(files.suspendedMeta, { force: true });
}
