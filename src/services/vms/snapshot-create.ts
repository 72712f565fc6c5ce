/**
 * Taking a snapshot of a running VM: let the guest settle (not for a fork), pause, save memory and device state (the RAM as an image of its own
 * where the driver can), freeze the disks as copies (the root keeps its reference to the image), then resume (or leave the process to the caller to end,
 * for --stop). Everything is assembled in a staging directory and published by one rename, then recorded
 * in the store; a failure resumes the VM (with --stop too) and removes the staging directory. A bridge-mode
 * VM is saved only where its restored copies can be re-addressed (readdress.ts), and the manifest records
 * its guest bits version. With `deferHash` (a fork) the memory is not hashed before publishing: the manifest's
 * sums are pending and the caller starts the hash in the background (snapshot-hash.ts). This module writes no VM state.
 *
 * @module
 */
import { copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { operationFailed, unavailable } from '../../api/errors.js';
import type { HypervisorDriver, SnapshotOps, VMHandle } from '../../drivers/hypervisor.js';
import { bootArgs } from '../../guest/cmdline.js';
import { snapshotFiles, vmFiles } from '../../model/filenames.js';
import { guestHostname } from '../../model/vm-name.js';
import type { SnapshotRow } from '../../store/snapshots.js';
import type { VMRow } from '../../store/vms.js';
import type { OpContext } from '../op-context.js';
import { rootDiskOf } from './boot.js';
import type { VMServiceDeps } from './deps.js';
import { faultPoint } from '../../system/faults.js';
import { guestBitsOf, saveProblem } from './readdress.js';
import { sshTargetFor } from './ssh.js';
import { fileStamp, markHashPending, PENDING_SHA256, rememberHash, sha256File, SNAPSHOT_FORMAT, type PoolMeta, type SnapshotManifest } from './snapshot-manifest.js';

/** The driver's warm-start operations, or a clear refusal naming what could not be done. */
export function snapshotOps(driver: HypervisorDriver, what = 'take snapshots'): SnapshotOps {
  if (!driver.capabilities().snapshots || !driver.snapshots) {
    throw unavailable(`the ${driver.capabilities().name} driver cannot ${what} (snapshots are not supported by this driver)`, 'use the qemu driver (driver = "qemu" in config.toml)');
  }
  return driver.snapshots;
}

/** How long a running guest may take to answer on the guest channel before a save (an older image's never does). */
const CHANNEL_PROBE_MS = 1500;

/** Whether the guest answers on the driver's guest channel (checked while it runs, before the save). */
async function channelAnswers(ops: SnapshotOps, handle: VMHandle, signal: AbortSignal): Promise<boolean> {
  if (!ops.guestCommand) return false;
  try {
    return (await ops.guestCommand(handle, 'health', { timeoutMs: CHANNEL_PROBE_MS, signal })).startsWith('ok ');
  } catch {
    signal.throwIfAborted();
    return false;
  }
}

/** How long a save waits at most for the guest to settle (a guest busy on purpose is saved as it is after that). */
export const SETTLE_S = 15;

/**
 * Lets a guest finish what it is doing before it is saved (guest channel `settle`): a snapshot taken
 * while udev still loads modules or a user manager still starts would make every restored copy finish
 * that work first, on the way to its SSH. Guests whose channel does not know the command are saved at once.
 */
async function settleGuest(ops: SnapshotOps, handle: VMHandle, name: string, ctx: OpContext): Promise<void> {
  let answer: string;
  try {
    answer = await ops.guestCommand!(handle, `settle ${SETTLE_S}`, { timeoutMs: (SETTLE_S + 10) * 1000, signal: ctx.signal });
  } catch {
    ctx.signal.throwIfAborted();
    return;
  }
  if (answer.startsWith('ok busy')) ctx.log(`${name} was still busy after ${SETTLE_S}s; saving it as it is`);
}

export interface TakeOptions {
  id: string;
  name: string;
  /** Leave the VM paused after saving (the caller ends its process). */
  stop: boolean;
  /** Makes the snapshot a warm pool template. */
  pool?: PoolMeta;
  /** Publish with the memory's sums pending; the caller hashes it in the background (PendingHashes). */
  deferHash?: boolean;
}

/** A snapshot just taken: its row, with the manifest it was published with. */
export type TakenSnapshot = SnapshotRow & { manifest: SnapshotManifest };

/** Saves a running VM into a published snapshot directory and returns its row (not yet inserted). */
export async function takeSnapshot(deps: VMServiceDeps, driver: HypervisorDriver, row: VMRow, handle: VMHandle, opts: TakeOptions, ctx: OpContext): Promise<TakenSnapshot> {
  const ops = snapshotOps(driver);
  const image = deps.images.byId(row.imageId);
  if (!image?.kernelPath) throw operationFailed(`image ${row.imageId} of vm ${row.name} is gone`);
  const vf = vmFiles(deps.layout.vmsDir, row.id);
  const root = rootDiskOf(vf);
  if (!root) throw operationFailed(`vm ${row.name} has no root disk`);
  // A bridge-mode guest is saved only when a restored copy can be given its own address.
  let guestBits: number | undefined;
  if (row.runtime.network === 'tap') {
    guestBits = driver.guestChannel ? await ctx.stage('guest-bits', `checking the guest bits of ${row.name}`, () => guestBitsOf(sshTargetFor(deps, row), ctx.signal)) : undefined;
    const problem = saveProblem(driver, row.name, guestBits);
    if (problem) throw problem;
  }
  const identityChannel = await channelAnswers(ops, handle, ctx.signal);
  // A fork saves at once: its parent is in use, and the children are wanted now.
  if (identityChannel && !opts.deferHash) await ctx.stage('settle', `letting ${row.name} finish what it is doing (at most ${SETTLE_S}s)`, () => settleGuest(ops, handle, row.name, ctx));
  const staging = snapshotFiles(deps.layout.snapshotsDir, `.${opts.id}.partial`);
  const final = snapshotFiles(deps.layout.snapshotsDir, opts.id);
  mkdirSync(staging.dir, { recursive: true, mode: 0o700 });
  let paused = false;
  let published = false;
  try {
    await ctx.stage('pause', `pausing ${row.name}`, () => ops.pause(handle));
    paused = true;
    faultPoint('snapshot.paused');
    const saved = await ctx.stage('memory', 'saving memory and device state', () => ops.saveState(handle, staging.memory, { signal: ctx.signal, ramFile: staging.ram, handOver: opts.stop }));
    faultPoint('snapshot.saved');
    const frozenRoot = await ctx.stage('disks', 'freezing disks', async () => {
      const r = await ops.freezeDisk({ path: root.path, format: root.format }, staging.rootDisk(root.format), { signal: ctx.signal });
      await ops.freezeDisk({ path: vf.workDisk, format: 'raw' }, staging.workDisk, { signal: ctx.signal });
      return r;
    });
    faultPoint('snapshot.frozen');
    if (!opts.stop) {
      await ctx.stage('resume', `resuming ${row.name}`, () => ops.resume(handle));
      paused = false;
    }
    const stamps = { memory: fileStamp(staging.memory), ram: saved.ramBytes !== undefined ? fileStamp(staging.ram) : undefined };
    const hasRam = saved.ramBytes !== undefined;
    const sha256 = opts.deferHash
      ? { memory: PENDING_SHA256, ram: hasRam ? PENDING_SHA256 : undefined }
      : await ctx.stage('checksum', 'hashing the memory file', async () => ({
          memory: await sha256File(staging.memory, ctx.signal),
          ram: hasRam ? await sha256File(staging.ram, ctx.signal) : undefined,
        }));
    copyFileSync(`${vf.hostKey}.pub`, staging.hostKeyPub);
    const backing = frozenRoot.backingFile;
    const manifest: SnapshotManifest = {
      format: SNAPSHOT_FORMAT,
      id: opts.id,
      name: opts.name,
      createdAt: new Date().toISOString(),
      source: { vmId: row.id, vmName: row.name },
      image: { id: image.id, name: image.name },
      driver: saved,
      machine: {
        vcpu: row.spec.vcpu,
        memoryMiB: row.spec.memoryMiB,
        diskSizeBytes: row.spec.diskSizeBytes,
        ...(row.spec.rootSizeBytes !== undefined ? { rootSizeBytes: row.spec.rootSizeBytes } : {}),
        kernelPath: image.kernelPath,
        ...(image.initrdPath ? { initrdPath: image.initrdPath } : {}),
        cmdline: bootArgs({ hostname: guestHostname(row.name) }),
        network: row.runtime.network ?? 'user',
      },
      disks: [
        { role: 'root', file: basename(final.rootDisk(root.format)), format: root.format, serial: 'root', ...(backing ? { backingFile: backing } : {}) },
        { role: 'work', file: basename(final.workDisk), format: 'raw', serial: 'work' },
      ],
      memory: { file: basename(final.memory), bytes: saved.memoryBytes, sha256: sha256.memory },
      ...(saved.ramBytes !== undefined && sha256.ram !== undefined ? { ram: { file: basename(final.ram), bytes: saved.ramBytes, sha256: sha256.ram } } : {}),
      hostKeyFile: basename(final.hostKeyPub),
      ...(opts.pool ? { pool: opts.pool } : {}),
      ...(guestBits !== undefined ? { guestBits } : {}),
      ...(identityChannel ? { identityChannel } : {}),
    };
    writeFileSync(staging.manifest, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
    renameSync(staging.dir, final.dir);
    published = true;
    // The files moved with their directory (same inodes, unchanged): a restore need not hash them again,
    // nor wait for a pending hash while they stay as they were saved.
    if (opts.deferHash) {
      markHashPending(final.memory, stamps.memory);
      if (hasRam) markHashPending(final.ram, stamps.ram);
    } else {
      rememberHash(final.memory, stamps.memory, sha256.memory);
      if (sha256.ram) rememberHash(final.ram, stamps.ram, sha256.ram);
    }
    faultPoint('snapshot.published');
    return {
      id: opts.id,
      name: opts.name,
      sourceVmId: row.id,
      sourceVmName: row.name,
      imageId: image.id,
      dir: final.dir,
      manifest,
      createdAt: manifest.createdAt,
    };
  } catch (err) {
    // Also with --stop: the caller ends the process only after a snapshot that succeeded.
    if (paused) await ops.resume(handle).catch((e: unknown) => deps.logger.warn('resume after failed snapshot', { vm: row.name, error: e }));
    rmSync(published ? final.dir : staging.dir, { recursive: true, force: true });
    throw err;
  }
}
