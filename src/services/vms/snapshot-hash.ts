/**
 * Hashing a published snapshot's memory file and RAM image in the background (a fork's snapshot, so its
 * children need not wait for it): the sums are computed at idle priority, and when both are in, the
 * manifest is rewritten in one step (temporary file + rename) and the store's copy updated. Until then
 * the manifest's sums are pending and only this daemon restores the snapshot (snapshot-manifest.ts).
 *
 * A file that changed since it was saved gets no sum: its snapshot stays pending and is refused. A
 * deleted snapshot's job is cancelled and waited for, so nothing is written into a removed directory.
 * On daemon stop the jobs get a short grace period, then are cancelled: their snapshots keep pending
 * sums, which the next daemon refuses (it cannot know the files were not changed while no daemon ran).
 *
 * @module
 */
import { dirname, join } from 'node:path';
import type { SnapshotRepo, SnapshotRow } from '../../store/snapshots.js';
import type { Logger } from '../../system/logger.js';
import { writeFileAtomic } from '../../system/atomic-file.js';
import { sha256FileIdle } from '../../system/sha256.js';
import { snapshotFiles } from '../../model/filenames.js';
import { failPendingHash, fileStamp, forgetPendingHash, PENDING_SHA256, pendingStamp, settlePendingHash, type SnapshotManifest } from './snapshot-manifest.js';

/** Why a snapshot whose hash was cut off by a daemon stop is refused (the same words a restarted daemon uses). */
const STOPPED = 'its memory was still being hashed when the daemon stopped';

/** A file of the snapshot is not the one saved any more. */
class Changed extends Error {}

/** Hashes one file; rejects once `signal` is aborted. */
export type HashFile = (path: string, signal: AbortSignal) => Promise<string>;

export interface PendingHashDeps {
  snapshots: Pick<SnapshotRepo, 'get' | 'setManifest'>;
  logger: Pick<Logger, 'info' | 'warn'>;
}

interface Job {
  abort: AbortController;
  /** Resolves (never rejects) once the job has ended and will write nothing more. */
  done: Promise<void>;
  /** The files it hashes. */
  paths: string[];
}

export class PendingHashes {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly deps: PendingHashDeps,
    private readonly hash: HashFile = sha256FileIdle,
  ) {}

  /** Starts hashing the pending files of a snapshot just published (and recorded) by this daemon. */
  start(snap: SnapshotRow): void {
    const m = snap.manifest as SnapshotManifest;
    const files = [m.memory, m.ram].filter((f): f is NonNullable<typeof f> => f !== undefined && f.sha256 === PENDING_SHA256);
    if (files.length === 0 || this.jobs.has(snap.id)) return;
    const abort = new AbortController();
    const paths = files.map((f) => join(snap.dir, f.file));
    const done = this.run(snap, m, abort.signal).finally(() => this.jobs.delete(snap.id));
    this.jobs.set(snap.id, { abort, done, paths });
  }

  /** Whether a snapshot's hash is still being computed. */
  has(id: string): boolean {
    return this.jobs.has(id);
  }

  /** Resolves when the snapshot's job (if any) has ended. */
  settled(id: string): Promise<void> {
    return this.jobs.get(id)?.done ?? Promise.resolve();
  }

  /** Stops a deleted snapshot's job and waits until it has ended; it writes nothing after this resolves. */
  async cancel(id: string): Promise<void> {
    const job = this.jobs.get(id);
    if (!job) return;
    job.abort.abort(new Error('the snapshot was deleted'));
    await job.done;
    for (const p of job.paths) forgetPendingHash(p);
  }

  /** Waits up to graceMs for the jobs under way, then cancels the rest and waits for them to end. */
  async stop(graceMs: number): Promise<void> {
    const all = [...this.jobs.values()];
    if (all.length === 0) return;
    this.deps.logger.info('waiting for snapshot hashes to finish', { count: all.length, graceMs });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(all.map((j) => j.done)), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const j of this.jobs.values()) j.abort.abort(new Error(STOPPED));
    await Promise.all(all.map((j) => j.done));
  }

  private async run(snap: SnapshotRow, m: SnapshotManifest, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    const sums = new Map<string, string>();
    const manifestPath = snapshotFiles(dirname(snap.dir), snap.id).manifest;
    let current = m.memory.file;
    try {
      for (const f of [m.memory, m.ram]) {
        if (!f || f.sha256 !== PENDING_SHA256) continue;
        current = f.file;
        const path = join(snap.dir, f.file);
        const stamp = pendingStamp(path);
        if (stamp === undefined || fileStamp(path) !== stamp) throw new Changed(`${f.file} changed after it was saved`);
        const sum = await this.hash(path, signal);
        // A write while it was read moves the file's change time: that sum is of no saved state.
        if (fileStamp(path) !== stamp) throw new Changed(`${f.file} changed while it was being hashed`);
        sums.set(f.file, sum);
      }
      signal.throwIfAborted();
      const withSum = <F extends { file: string; sha256: string }>(f: F): F => ({ ...f, sha256: sums.get(f.file) ?? f.sha256 });
      const next: SnapshotManifest = { ...m, memory: withSum(m.memory), ...(m.ram ? { ram: withSum(m.ram) } : {}) };
      // From here to the end nothing awaits: a cancel cannot come between the checks above and these writes.
      writeFileAtomic(manifestPath, JSON.stringify(next, null, 2) + '\n', 0o600);
      for (const [file, sum] of sums) settlePendingHash(join(snap.dir, file), sum);
      if (this.deps.snapshots.get(snap.id, true)) this.deps.snapshots.setManifest(snap.id, next);
      this.deps.logger.info('snapshot hashed in the background', { snapshot: snap.name, ms: Date.now() - started });
    } catch (err) {
      const why = signal.aborted
        ? STOPPED
        : err instanceof Changed
          ? err.message
          : `hashing ${current} failed: ${(err as Error).message}`;
      for (const f of [m.memory, m.ram]) if (f && f.sha256 === PENDING_SHA256) failPendingHash(join(snap.dir, f.file), why);
      if (!signal.aborted) this.deps.logger.warn('could not hash a snapshot in the background; it will not be restored', { snapshot: snap.name, error: why });
    }
  }
}
