/** Read-only views of snapshots: lookup by name or id, and the API shape (no side effects). */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { notFound } from '../../api/errors.js';
import type { SnapshotChecksum, SnapshotInfo } from '../../api/types.js';
import type { SnapshotRepo, SnapshotRow } from '../../store/snapshots.js';
import { PENDING_SHA256, pendingState, type SnapshotManifest } from './snapshot-manifest.js';
import type { ImageResolver } from './deps.js';

export function resolveSnapshot(repo: SnapshotRepo, ref: string): SnapshotRow {
  const hit = repo.byName(ref) ?? repo.get(ref);
  if (hit) return hit;
  const names = repo.list().map((s) => s.name);
  throw notFound(`snapshot ${JSON.stringify(ref)} not found`, names.length > 0 ? `snapshots: ${names.join(', ')}` : 'take one with banger vm snapshot create VM');
}

/** Bytes the files of a directory occupy on disk (sparse files count what they use). */
export function diskUsage(dir: string): number {
  let total = 0;
  try {
    for (const f of readdirSync(dir)) total += statSync(join(dir, f)).blocks * 512;
  } catch {
    return 0;
  }
  return total;
}

/** Whether the manifest's memory sums are recorded, still being computed by this daemon, or never will be. */
export function checksumState(dir: string, m: SnapshotManifest): SnapshotChecksum {
  let out: SnapshotChecksum = 'recorded';
  for (const f of [m.memory, m.ram]) {
    if (!f || f.sha256 !== PENDING_SHA256) continue;
    const { state } = pendingState(join(dir, f.file));
    if (state === 'pending') out = 'pending';
    else if (state !== 'hashed') return 'missing';
  }
  return out;
}

export function toSnapshotInfo(row: SnapshotRow, repo: SnapshotRepo, images: ImageResolver): SnapshotInfo {
  const m = row.manifest as SnapshotManifest;
  const imageName = images.byId(row.imageId)?.name ?? m.image?.name;
  return {
    id: row.id,
    name: row.name,
    sourceVm: row.sourceVmName,
    imageId: row.imageId,
    ...(imageName ? { imageName } : {}),
    vcpu: m.machine.vcpu,
    memoryMiB: m.machine.memoryMiB,
    sizeBytes: diskUsage(row.dir),
    driver: m.driver.driver,
    driverVersion: m.driver.version,
    createdAt: row.createdAt,
    usedBy: repo.dependents(row.id),
    dir: row.dir,
    checksum: m.memory ? checksumState(row.dir, m) : 'missing',
  };
}
