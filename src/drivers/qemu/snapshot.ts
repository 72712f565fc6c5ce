/**
 * Warm starts with QEMU: the guest is paused with QMP `stop`, its memory and device state go to a file
 * through migration to `exec:cat > FILE` (QEMU 7.2 has no `file:` migration URI), and a restore starts
 * QEMU with `-S -incoming defer` and feeds the file back with `migrate-incoming exec:cat FILE`, then
 * `cont`. Disks are frozen by copying them while the guest is paused (the copy of a qcow2 root keeps its
 * backing reference to the image); children get qcow2 overlays over the frozen root.
 *
 * Guest RAM is a file (argv.ts). A VM whose RAM is its own shared file is saved with the `x-ignore-shared`
 * capability: the state file then holds devices only, and the RAM file, copied while the guest is paused
 * (or linked, when the process ends after the save), becomes the snapshot's RAM image. A restore maps that
 * image privately: pages the child does not write stay the page cache's, one copy for every child. A VM
 * whose RAM is already a private mapping (itself restored) is saved the old way, RAM inside the state file.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { chmod, link, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { alreadyExists, badRequest, operationFailed } from '../../api/errors.js';
import { run } from '../../system/exec.js';
import type { DiskSpec, FrozenDisk, SavedState } from '../hypervisor.js';
import { createOverlay, imageInfo } from './overlay.js';
import { QmpError, type QmpClient } from './qmp.js';
import { RAM_BACKEND_ID } from './argv.js';

/** Paths that reach a shell through QEMU's exec: migration URI must be plain: no quoting is needed or allowed. */
const PLAIN_PATH = /^\/[A-Za-z0-9_./+-]+$/;

export function checkStatePath(path: string): void {
  if (!isAbsolute(path) || !PLAIN_PATH.test(path) || path.includes('/../')) {
    throw badRequest(
      `state file path "${path}" must be absolute and use only letters, digits and . _ / + -`,
      'use a state directory (BANGER_HOME) whose path has no spaces or special characters',
    );
  }
}

export function saveUri(memoryFile: string): string {
  checkStatePath(memoryFile);
  return `exec:cat > ${memoryFile}`;
}

export function loadUri(memoryFile: string): string {
  checkStatePath(memoryFile);
  return `exec:cat ${memoryFile}`;
}

interface MigrationInfo {
  status?: string;
  'error-desc'?: string;
}

/** Polls query-migrate until the migration completed; throws with QEMU's reason when it failed. */
export async function waitMigration(qmp: QmpClient, what: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const info = await qmp.execute<MigrationInfo>('query-migrate', undefined, { timeoutMs: 5000 });
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw operationFailed(`${what} failed: ${info['error-desc'] ?? info.status}`);
    }
    if (Date.now() > deadline) throw operationFailed(`${what} did not finish within ${Math.round(timeoutMs / 1000)}s (status ${info.status ?? 'none'})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The path of the file the VM's RAM is a shared mapping of, or undefined (private RAM, or a VM started without a RAM file). */
export async function sharedRamFile(qmp: QmpClient): Promise<string | undefined> {
  const path = `/objects/${RAM_BACKEND_ID}`;
  try {
    if ((await qmp.execute<boolean>('qom-get', { path, property: 'share' }, { timeoutMs: 5000 })) !== true) return undefined;
    return await qmp.execute<string>('qom-get', { path, property: 'mem-path' }, { timeoutMs: 5000 });
  } catch (err) {
    if (err instanceof QmpError) return undefined;
    throw err;
  }
}

/** Whether the migration stream leaves out RAM kept in shared files; set on every save and load (QEMU keeps it). */
function ignoreShared(qmp: QmpClient, on: boolean): Promise<unknown> {
  return qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: on }] }, { timeoutMs: 5000 });
}

export interface RamTarget {
  /** Where the frozen RAM image goes. */
  file: string;
  /** The process ends after the save: its RAM file may be linked instead of copied. */
  handOver: boolean;
}

/**
 * Saves a paused VM's state; refuses a running one (its memory would change under the copy). With `ram`
 * and a VM whose RAM is a shared file, the RAM goes to ram.file as an image (returns its size); otherwise
 * into the state file (returns undefined).
 */
export async function saveToFile(qmp: QmpClient, memoryFile: string, timeoutMs: number, signal?: AbortSignal, ram?: RamTarget): Promise<number | undefined> {
  const uri = saveUri(memoryFile);
  if (existsSync(memoryFile)) throw alreadyExists(`state file "${memoryFile}" already exists`);
  if (ram && existsSync(ram.file)) throw alreadyExists(`RAM image "${ram.file}" already exists`);
  const status = await qmp.queryStatus();
  if (status.running) throw operationFailed('the VM must be paused before its state is saved');
  const live = ram ? await sharedRamFile(qmp) : undefined;
  try {
    await ignoreShared(qmp, live !== undefined);
    await qmp.execute('migrate', { uri }, { timeoutMs: 10_000 });
  } catch (err) {
    if (err instanceof QmpError) throw operationFailed(`qemu refused to save the VM state: ${err.desc}`);
    throw err;
  }
  await waitMigration(qmp, 'saving the VM state', timeoutMs, signal);
  await chmod(memoryFile, 0o600);
  if (!ram || live === undefined) return undefined;
  await freezeRam(live, ram, signal);
  return (await stat(ram.file)).size;
}

/**
 * The RAM image: a link to the live file when the process ends after the save, else a sparse copy taken
 * while the guest is paused. It stays writable by its owner: QEMU 7.2 opens a file it maps privately for
 * writing (it never writes through a private mapping), and QEMU keeps no capability to override the mode.
 */
async function freezeRam(live: string, ram: RamTarget, signal?: AbortSignal): Promise<void> {
  const linked = ram.handOver && (await link(live, ram.file).then(() => true, (err: NodeJS.ErrnoException) => {
    if (err.code === 'EXDEV' || err.code === 'EPERM') return false;
    throw err;
  }));
  if (!linked) await run(['cp', '--sparse=always', '--reflink=auto', '--', live, ram.file], { timeoutMs: 30 * 60_000, ...(signal ? { signal } : {}) });
  await chmod(ram.file, 0o600);
}

/** Loads state into a QEMU started with -incoming defer, then lets the guest run; `ramImage`: the state was saved without its RAM. */
export async function loadFromFile(qmp: QmpClient, memoryFile: string, timeoutMs: number, signal?: AbortSignal, ramImage = false): Promise<void> {
  const uri = loadUri(memoryFile);
  if (!(await stat(memoryFile).catch(() => undefined))?.isFile()) throw operationFailed(`state file "${memoryFile}" does not exist`);
  await ignoreShared(qmp, ramImage);
  await qmp.execute('migrate-incoming', { uri }, { timeoutMs: 10_000 });
  await waitMigration(qmp, 'loading the VM state', timeoutMs, signal);
  await qmp.execute('cont', undefined, { timeoutMs: 10_000 });
}

/** A frozen copy of a paused VM's disk, read-only for everyone after. */
export async function freezeDiskFile(live: DiskSpec, frozen: string, signal?: AbortSignal): Promise<FrozenDisk> {
  if (existsSync(frozen)) throw alreadyExists(`frozen disk "${frozen}" already exists`);
  await run(['cp', '--sparse=always', '--reflink=auto', '--', live.path, frozen], { timeoutMs: 30 * 60_000, ...(signal ? { signal } : {}) });
  await chmod(frozen, 0o400);
  if (live.format !== 'qcow2') return {};
  const backing = (await imageInfo(frozen, signal)).backingFile;
  return backing ? { backingFile: backing } : {};
}

/** A child's disk over a frozen one: a qcow2 overlay over a qcow2 base, a private copy of a raw one. */
export async function diskOverFrozen(frozen: DiskSpec, target: string, signal?: AbortSignal): Promise<void> {
  if (frozen.format === 'qcow2') {
    await createOverlay(frozen.path, target, { baseFormat: 'qcow2', ...(signal ? { signal } : {}) });
    return;
  }
  if (existsSync(target)) throw alreadyExists(`disk "${target}" already exists`);
  await run(['cp', '--sparse=always', '--reflink=auto', '--', frozen.path, target], { timeoutMs: 30 * 60_000, ...(signal ? { signal } : {}) });
  await chmod(target, 0o600);
}

export function savedState(version: string, accel: string, memoryBytes: number, ramBytes?: number): SavedState {
  return { driver: 'qemu', version, accel, memoryBytes, ...(ramBytes !== undefined ? { ramBytes } : {}) };
}
