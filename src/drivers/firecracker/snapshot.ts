/**
 * Firecracker's saved state behind banger's snapshot contract. A snapshot is two files: the guest
 * memory (the contract's memory file) and the microVM's device state beside it at
 * `<memory file>.vmstate`. The device state records the paths the VM was configured with, so a
 * VM that may be saved names its disks by paths that mean the same in every VM: relative ones
 * (`disk-<drive id>`, links in its run directory, which is firecracker's working directory) or,
 * under the jailer, the fixed paths inside its chroot. A restore starts a fresh firecracker, gives it
 * the child's own links, logger and metrics, then loads the state with the child's tap
 * (network_overrides) and vsock socket (vsock_override) as its first call.
 *
 * @module
 */
import { constants } from 'node:fs';
import { access, copyFile, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { badRequest, operationFailed } from '../../api/errors.js';
import type { LaunchSpec } from '../hypervisor.js';
import { driveId, type FcPaths } from './config.js';
import type { ApiCall, Logger, Metrics, SnapshotLoadParams } from './types.js';

export const VMSTATE_SUFFIX = '.vmstate';
/** The first release whose snapshot API banger's calls are checked against (network_overrides, vsock_override). */
export const FC_SNAPSHOT_MIN: readonly [number, number] = [1, 16];

export function stateFileOf(memoryFile: string): string {
  return memoryFile + VMSTATE_SUFFIX;
}

/** The run-directory link through which firecracker opens the n-th disk of a VM it may save. */
export function diskLinkName(serial: string | undefined, index: number): string {
  return `disk-${driveId(serial, index)}`;
}

/** Undefined when this release's snapshots can be taken and restored by banger; otherwise why not. */
export function snapshotVersionProblem(v: readonly [number, number, number]): string | undefined {
  const [maj, min] = v;
  if (maj < FC_SNAPSHOT_MIN[0] || (maj === FC_SNAPSHOT_MIN[0] && min < FC_SNAPSHOT_MIN[1])) {
    return `snapshots need firecracker ${FC_SNAPSHOT_MIN.join('.')} or newer (restoring onto a VM's own tap and vsock socket), and this is ${v.join('.')}`;
  }
  return undefined;
}

/** The version string a saved state records: state loads only into the same firecracker release. */
export function stateVersionString(v: readonly [number, number, number]): string {
  return `firecracker ${v.join('.')}`;
}

export interface RestorePaths extends Pick<FcPaths, 'log' | 'metrics' | 'vsock'> {
  /** The device state and memory files as firecracker sees them. */
  state: string;
  memory: string;
}

/** The calls a restoring firecracker gets: logger and metrics (the only ones allowed first), then the load. */
export function restoreCalls(spec: Pick<LaunchSpec, 'network'>, paths: RestorePaths, opts: { trackDirtyPages?: boolean } = {}): ApiCall[] {
  if (spec.network.mode === 'user') {
    throw badRequest('firecracker has no user-mode network; it needs a tap', 'set network_mode = "bridge" in config.toml');
  }
  const logger: Logger = { log_path: paths.log, level: 'Info', show_level: true, show_log_origin: false };
  const metrics: Metrics = { metrics_path: paths.metrics };
  const load: SnapshotLoadParams = {
    snapshot_path: paths.state,
    mem_backend: { backend_type: 'File', backend_path: paths.memory },
    track_dirty_pages: opts.trackDirtyPages ?? false,
    resume_vm: true,
    clock_realtime: true,
    vsock_override: { uds_path: paths.vsock },
  };
  if (spec.network.mode === 'tap') load.network_overrides = [{ iface_id: 'eth0', host_dev_name: spec.network.tap }];
  return [
    { method: 'PUT', path: '/logger', definition: 'Logger', body: logger },
    { method: 'PUT', path: '/metrics', definition: 'Metrics', body: metrics },
    { method: 'PUT', path: '/snapshot/load', definition: 'SnapshotLoadParams', body: load },
  ];
}

/** Links `disk-<drive id>` in the run directory to each disk; firecracker opens them by these relative names. */
export async function linkDisks(spec: Pick<LaunchSpec, 'runDir' | 'disks'>): Promise<string[]> {
  const names: string[] = [];
  for (const [i, d] of spec.disks.entries()) {
    const name = diskLinkName(d.serial, i);
    await rm(join(spec.runDir, name), { force: true });
    await symlink(d.path, join(spec.runDir, name));
    names.push(name);
  }
  return names;
}

/** The child's disks and the saved state files are there before anything starts. */
export async function checkRestoreInputs(spec: LaunchSpec, memoryFile: string): Promise<void> {
  const inputs: [string, string, number][] = [['memory file', memoryFile, constants.R_OK], ['device state file', stateFileOf(memoryFile), constants.R_OK]];
  spec.disks.forEach((d, i) => inputs.push([`disk ${i}`, d.path, d.readOnly ? constants.R_OK : constants.R_OK | constants.W_OK]));
  for (const [what, path, mode] of inputs) {
    await access(path, mode).catch((err: NodeJS.ErrnoException) => {
      throw operationFailed(`cannot restore vm "${spec.name}": ${what} "${path}" ${err.code === 'ENOENT' ? 'does not exist' : `is not accessible (${err.code ?? 'error'})`}`);
    });
  }
}

/** Moves a file firecracker wrote inside a jail out to `to` (copied when they are on different filesystems). */
export async function moveOut(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}
