/**
 * A snapshot's manifest: what was saved, by which driver and version, for which machine and image, its
 * disk chain and the sha256 of its memory file (and of its RAM image, when the RAM was saved as one). A
 * restore reads it back and refuses, with the reason and a fix, a snapshot whose files are missing or
 * altered, or whose state this driver cannot load.
 *
 * Format 2 added the RAM image; a format 1 snapshot (RAM inside the memory file) restores as it always did.
 *
 * A fork's snapshot is published before its memory is hashed: its manifest's sums are '' (pending)
 * until a background job (snapshot-hash.ts) fills them in. Such a snapshot is restored only by the
 * daemon that wrote it and only while its files are unchanged since they were saved (the pending
 * registry below); any other reader refuses it.
 *
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BangerError, badRequest, operationFailed } from '../../api/errors.js';
import type { DiskFormat, DriverName, NetworkMode, SavedState } from '../../drivers/hypervisor.js';
import { sha256File } from '../../system/sha256.js';

export { sha256File };

export const SNAPSHOT_FORMAT = 2;

export interface ManifestDisk {
  role: 'root' | 'work';
  /** File name inside the snapshot directory. */
  file: string;
  format: DiskFormat;
  serial: string;
  /** The base a frozen qcow2 still reads from (the image's root filesystem). */
  backingFile?: string;
}

export interface ManifestFile {
  /** File name inside the snapshot directory. */
  file: string;
  bytes: number;
  /** '' while it is still being hashed (PENDING_SHA256). */
  sha256: string;
}

/** The sum a manifest records for a file whose hash has not been computed yet. */
export const PENDING_SHA256 = '';

export interface SnapshotManifest {
  format: number;
  id: string;
  name: string;
  createdAt: string;
  source: { vmId: string; vmName: string };
  image: { id: string; name: string };
  driver: SavedState;
  /** The machine a restore must recreate exactly (the saved device state expects it). */
  machine: {
    vcpu: number;
    memoryMiB: number;
    diskSizeBytes: number;
    rootSizeBytes?: number;
    kernelPath: string;
    initrdPath?: string;
    cmdline: string;
    network: NetworkMode;
  };
  disks: ManifestDisk[];
  /** The saved state the driver loads; the guest's RAM too unless `ram` is there. */
  memory: ManifestFile;
  /** The guest's RAM as an image of its own: restores map it privately and share its unchanged pages. */
  ram?: ManifestFile;
  /** The public host key the guest held when saved (checked on a restore's identity connection). */
  hostKeyFile: string;
  /** Set on the warm pool's templates (which are not user snapshots). */
  pool?: PoolMeta;
  /**
   * The guest bits version the saved guest ran, recorded for bridge-mode (tap) snapshots: a restore
   * re-addresses the guest over its guest channel, which needs guest bits that answer readdress.
   */
  guestBits?: number;
  /** The saved guest answered on the driver's guest channel: a restore gives it its identity there, not over SSH. */
  identityChannel?: boolean;
}

/** What makes a snapshot a warm pool template: the image and shape it serves and what it was built from. */
export interface PoolMeta {
  /** `<image id>/<vcpu>/<memory MiB>`: one template per key. */
  key: string;
  /** sha256 over `parts`: a template whose inputs changed is stale and never restored. */
  fingerprint: string;
  parts: Record<string, string>;
  /** Replaced or cleared while VMs still run over its disks: never used again, removed once they are gone. */
  retired?: boolean;
}

/** Checks the shape of a manifest read back from disk; throws operation_failed naming what is wrong. */
export function parseManifest(value: unknown, where: string): SnapshotManifest {
  const bad = (what: string) => operationFailed(`snapshot manifest ${where} is invalid: ${what}`, 'delete the snapshot and take it again');
  if (typeof value !== 'object' || value === null) throw bad('not an object');
  const m = value as Partial<SnapshotManifest>;
  if (typeof m.format !== 'number') throw bad('no format number');
  if (m.format > SNAPSHOT_FORMAT) {
    throw operationFailed(`snapshot format ${m.format} is newer than this banger understands (${SNAPSHOT_FORMAT})`, 'upgrade banger, or take the snapshot again');
  }
  for (const k of ['id', 'name', 'createdAt', 'hostKeyFile'] as const) if (typeof m[k] !== 'string') throw bad(`${k} missing`);
  if (!m.driver || typeof m.driver.driver !== 'string' || typeof m.driver.version !== 'string') throw bad('driver missing');
  if (!m.machine || typeof m.machine.vcpu !== 'number' || typeof m.machine.memoryMiB !== 'number' || typeof m.machine.cmdline !== 'string') throw bad('machine missing');
  if (!m.image || typeof m.image.id !== 'string') throw bad('image missing');
  if (!m.memory || typeof m.memory.sha256 !== 'string' || typeof m.memory.file !== 'string') throw bad('memory missing');
  if (!Array.isArray(m.disks) || m.disks.length === 0) throw bad('disks missing');
  for (const d of m.disks) {
    if (basename(d.file) !== d.file || (d.format !== 'qcow2' && d.format !== 'raw')) throw bad(`disk ${JSON.stringify(d.file)}`);
  }
  if (m.ram !== undefined && (typeof m.ram !== 'object' || m.ram === null || typeof m.ram.sha256 !== 'string' || typeof m.ram.file !== 'string' || basename(m.ram.file) !== m.ram.file)) throw bad('ram');
  if (basename(m.memory.file) !== m.memory.file || basename(m.hostKeyFile!) !== m.hostKeyFile) throw bad('file names must not contain directories');
  if (m.guestBits !== undefined && !Number.isSafeInteger(m.guestBits)) throw bad('guestBits');
  if (m.identityChannel !== undefined && typeof m.identityChannel !== 'boolean') throw bad('identityChannel');
  const companions: unknown = m.driver.companions;
  if (companions !== undefined && (!Array.isArray(companions) || !companions.every((c) => typeof c === 'string' && /^\.[A-Za-z0-9_-]+$/.test(c)))) throw bad('driver companions');
  return m as SnapshotManifest;
}

export async function readManifest(path: string): Promise<SnapshotManifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw operationFailed(`snapshot manifest ${path} is missing`, 'the snapshot is damaged: delete it and take it again');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw operationFailed(`snapshot manifest ${path} is not JSON`, 'the snapshot is damaged: delete it and take it again');
  }
  return parseManifest(json, path);
}

export interface RestoreTarget {
  driver: DriverName;
  /** The driver's stateVersion(). */
  version: string;
  accel: string;
}

/** Why this snapshot cannot be restored by this driver, or undefined. Cheap checks only (no hashing). */
export function compatibilityProblem(m: SnapshotManifest, target: RestoreTarget): BangerError | undefined {
  if (m.driver.driver !== target.driver) {
    return badRequest(
      `snapshot ${m.name} was saved by the ${m.driver.driver} driver and can only be restored by it, not by ${target.driver}`,
      `restore it with --driver ${m.driver.driver} (or driver = "${m.driver.driver}" in config.toml), or take a new snapshot`,
    );
  }
  if (m.driver.version !== target.version) {
    return badRequest(
      `snapshot ${m.name} was saved by ${m.driver.version}, but this host runs ${target.version}; saved state only loads into the same version`,
      'boot a VM cold (banger vm create) and take a new snapshot',
    );
  }
  if (m.driver.accel !== target.accel) {
    return badRequest(`snapshot ${m.name} was saved under ${m.driver.accel}, but VMs here run under ${target.accel}`, 'take a new snapshot on this host');
  }
  return undefined;
}

/**
 * Files of published snapshots whose sha256 this daemon computed, by path: the sum and the file's
 * identity then (device, inode, size, modification time, link count and change time). Any write to the
 * file, or a file put in its place, changes that identity (the change time cannot be set back by a user),
 * so a match means the bytes are the ones hashed and the restore need not read them all again.
 */
const hashed = new Map<string, { stamp: string; sha256: string }>();

/** The identity of a file that any write or replacement changes; undefined when it is not there. */
export function fileStamp(path: string): string | undefined {
  const s = statSync(path, { bigint: true, throwIfNoEntry: false });
  return s ? `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.nlink}:${s.ctimeNs}` : undefined;
}

/** The part of a stamp that removing another link to the file leaves as it was (all but link count and change time). */
function contentStamp(stamp: string): string {
  return stamp.split(':').slice(0, 4).join(':');
}

/** Records that `path` hashed to sha256 while it had `stamp` (taken before hashing); ignored when the file changed since. */
export function rememberHash(path: string, stamp: string | undefined, sha256: string): void {
  if (stamp !== undefined && fileStamp(path) === stamp) hashed.set(path, { stamp, sha256 });
}

/**
 * Keeps a remembered sum of `path` after the daemon removed another link to it (a --stop snapshot's RAM
 * image is the ended VM's RAM file, linked): that removal moves the change time, which alone would make
 * the next restore read the whole file again. Kept only when the link count went down and the inode,
 * size and modification time are the ones hashed; anything else forgets the sum.
 */
export function keepHashAfterUnlink(path: string): void {
  const known = hashed.get(path);
  if (!known) return;
  const now = fileStamp(path);
  const linksThen = BigInt(known.stamp.split(':')[4] ?? '0');
  const linksNow = now === undefined ? 0n : BigInt(now.split(':')[4] ?? '0');
  if (now !== undefined && contentStamp(now) === contentStamp(known.stamp) && linksNow < linksThen) hashed.set(path, { stamp: now, sha256: known.sha256 });
  else if (now !== known.stamp) hashed.delete(path);
}

/**
 * Files of published snapshots whose manifest says their sum is pending, by path: the file's identity
 * when this daemon saved it, and why hashing it stopped if it did. Only this daemon's own entries are
 * here, so a pending manifest found after a restart has none and is refused.
 */
const pending = new Map<string, { stamp: string; failed?: string }>();

/** Records that this daemon published `path` (with `stamp`, taken when it was saved) with its sum still pending. */
export function markHashPending(path: string, stamp: string | undefined): void {
  if (stamp !== undefined) pending.set(path, { stamp });
}

/** The save-time identity of a pending file, when this daemon wrote it. */
export function pendingStamp(path: string): string | undefined {
  return pending.get(path)?.stamp;
}

/** The pending file hashed to sha256 and was unchanged since it was saved: it is a hashed file from now on. */
export function settlePendingHash(path: string, sha256: string): void {
  const p = pending.get(path);
  if (!p) return;
  pending.delete(path);
  if (fileStamp(path) === p.stamp) hashed.set(path, { stamp: p.stamp, sha256 });
}

/** Hashing a pending file stopped without a sum it could record; `why` ends the refusal of a later restore ("never fully checked: <why>"). */
export function failPendingHash(path: string, why: string): void {
  const p = pending.get(path);
  if (p) pending.set(path, { ...p, failed: why });
}

/** Forgets a pending file (its snapshot was deleted). */
export function forgetPendingHash(path: string): void {
  pending.delete(path);
}

/**
 * What this daemon knows of a file whose manifest sum is pending: `pending` (it wrote it, unchanged
 * since, hash under way), `hashed` (the hash finished since the manifest was read), `changed` (written
 * here but not the same file any more), `failed` (the hash stopped), or `unknown` (not written by this
 * daemon, or before its last start).
 */
export type PendingState = 'pending' | 'hashed' | 'changed' | 'failed' | 'unknown';

export function pendingState(path: string): { state: PendingState; why?: string } {
  const now = fileStamp(path);
  const done = hashed.get(path);
  if (done && done.stamp === now) return { state: 'hashed' };
  const p = pending.get(path);
  if (!p) return { state: done ? 'changed' : 'unknown' };
  if (p.stamp !== now) return { state: 'changed' };
  return p.failed !== undefined ? { state: 'failed', why: p.failed } : { state: 'pending' };
}

/** Why a snapshot whose manifest sum is pending cannot be trusted now, or undefined when it can (see pendingState). */
function pendingProblem(m: SnapshotManifest, what: string, path: string): BangerError | undefined {
  const hint = `delete it with banger vm snapshot delete ${m.name} and take it again`;
  const { state, why } = pendingState(path);
  switch (state) {
    case 'pending':
    case 'hashed':
      return undefined;
    case 'changed':
      return operationFailed(`snapshot ${m.name}: its ${what} changed after it was saved, before its sha256 was recorded`, hint);
    case 'failed':
      return operationFailed(`snapshot ${m.name} was never fully checked: ${why ?? `hashing its ${what} failed`}`, hint);
    case 'unknown':
      return operationFailed(`snapshot ${m.name} was never fully checked: its memory was still being hashed when the daemon stopped`, hint);
  }
}

/** sha256 of a file, read again only when it changed since this daemon last hashed it. */
async function sha256Unchanged(path: string, signal?: AbortSignal): Promise<string> {
  const stamp = fileStamp(path);
  const known = hashed.get(path);
  if (known && stamp !== undefined && known.stamp === stamp) return known.sha256;
  const sum = await sha256File(path, signal);
  rememberHash(path, stamp, sum);
  return sum;
}

/**
 * Every file the manifest names exists, and the memory file (and RAM image) hash to their recorded
 * sha256; a sum still pending is accepted only for files this daemon wrote and that are unchanged since.
 */
export async function verifyFiles(dir: string, m: SnapshotManifest, signal?: AbortSignal, opts: { hash?: boolean } = {}): Promise<void> {
  const hint = `delete it with banger vm snapshot delete ${m.name} and take it again`;
  const needed = [m.memory.file, ...(m.driver.companions ?? []).map((c) => m.memory.file + c), ...(m.ram ? [m.ram.file] : []), m.hostKeyFile, ...m.disks.map((d) => d.file)];
  const missing = needed.filter((f) => !existsSync(join(dir, f)));
  for (const d of m.disks) if (d.backingFile && !existsSync(d.backingFile)) missing.push(d.backingFile);
  if (missing.length > 0) throw operationFailed(`snapshot ${m.name} is incomplete: missing ${missing.join(', ')}`, hint);
  if (opts.hash === false) return;
  for (const [what, f] of [['memory file', m.memory], ['RAM image', m.ram]] as const) {
    if (!f) continue;
    if (f.sha256 === PENDING_SHA256) {
      const problem = pendingProblem(m, what, join(dir, f.file));
      if (problem) throw problem;
      continue;
    }
    const sum = await sha256Unchanged(join(dir, f.file), signal);
    if (sum !== f.sha256) {
      throw operationFailed(`snapshot ${m.name}: ${what} ${f.file} fails its sha256 check (got ${sum.slice(0, 12)}…, manifest says ${f.sha256.slice(0, 12)}…)`, hint);
    }
  }
}
