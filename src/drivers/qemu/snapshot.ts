/**
 * Warm starts with QEMU: the guest is paused with QMP `stop`, its memory and device state go to a file
 * through migration to `exec:cat > FILE` (QEMU 7.2 has no `file:` migration URI), and a restore starts
 * QEMU with `-S -incoming defer` and feeds the file back with `migrate-incoming exec:cat FILE`, then
 * `cont`. Disks are frozen by copying them while the guest is paused (the copy of a qcow2 root keeps its
 * backing reference to the image); children get qcow2 overlays over the frozen root.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { alreadyExists, badRequest, operationFailed } from '../../api/errors.js';
import { run } from '../../system/exec.js';
import type { DiskSpec, FrozenDisk, SavedState } from '../hypervisor.js';
import { createOverlay, imageInfo } from './overlay.js';
import { QmpError, type QmpClient } from './qmp.js';

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

/** Saves a paused VM's state; refuses a running one (its memory would change under the copy). */
export async function saveToFile(qmp: QmpClient, memoryFile: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const uri = saveUri(memoryFile);
  if (existsSync(memoryFile)) throw alreadyExists(`state file "${memoryFile}" already exists`);
  const status = await qmp.queryStatus();
  if (status.running) throw operationFailed('the VM must be paused before its state is saved');
  try {
    await qmp.execute('migrate', { uri }, { timeoutMs: 10_000 });
  } catch (err) {
    if (err instanceof QmpError) throw operationFailed(`qemu refused to save the VM state: ${err.desc}`);
    throw err;
  }
  await waitMigration(qmp, 'saving the VM state', timeoutMs, signal);
  await chmod(memoryFile, 0o600);
}

/** Loads state into a QEMU started with -incoming defer, then lets the guest run. */
export async function loadFromFile(qmp: QmpClient, memoryFile: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const uri = loadUri(memoryFile);
  if (!(await stat(memoryFile).catch(() => undefined))?.isFile()) throw operationFailed(`state file "${memoryFile}" does not exist`);
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

export function savedState(version: string, accel: string, memoryBytes: number): SavedState {
  return { driver: 'qemu', version, accel, memoryBytes };
}
