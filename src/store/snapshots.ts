/** The snapshots table, and which VMs were restored from (and so depend on) each snapshot. */
import type { Database } from 'better-sqlite3';

export interface SnapshotRow {
  id: string;
  name: string;
  sourceVmId: string;
  sourceVmName: string;
  imageId: string;
  dir: string;
  /** The manifest as published (also in the snapshot's directory). */
  manifest: unknown;
  createdAt: string;
}

interface Raw {
  id: string;
  name: string;
  source_vm_id: string;
  source_vm_name: string;
  image_id: string;
  dir: string;
  manifest_json: string;
  created_at: string;
}

function fromRaw(r: Raw): SnapshotRow {
  return {
    id: r.id,
    name: r.name,
    sourceVmId: r.source_vm_id,
    sourceVmName: r.source_vm_name,
    imageId: r.image_id,
    dir: r.dir,
    manifest: JSON.parse(r.manifest_json) as unknown,
    createdAt: r.created_at,
  };
}

/** Rows that are user snapshots, not warm pool templates. */
const USER = "json_extract(manifest_json, '$.pool') IS NULL";

export class SnapshotRepo {
  constructor(private readonly db: Database) {}

  /** The user's snapshots (warm pool templates, whose manifest carries `pool`, are left out). */
  list(): SnapshotRow[] {
    return (this.db.prepare(`SELECT * FROM snapshots WHERE ${USER} ORDER BY created_at`).all() as Raw[]).map(fromRaw);
  }

  /** The warm pool's templates. */
  poolTemplates(): SnapshotRow[] {
    return (this.db.prepare(`SELECT * FROM snapshots WHERE NOT (${USER}) ORDER BY created_at`).all() as Raw[]).map(fromRaw);
  }

  /** Every row, user snapshots and templates (for sweeping directories no row owns). */
  allIds(): string[] {
    return (this.db.prepare('SELECT id FROM snapshots').all() as { id: string }[]).map((r) => r.id);
  }

  /** A user snapshot by id; templates only with includePool. */
  get(id: string, includePool = false): SnapshotRow | undefined {
    const r = this.db.prepare(`SELECT * FROM snapshots WHERE id = ?${includePool ? '' : ` AND ${USER}`}`).get(id) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  byName(name: string): SnapshotRow | undefined {
    const r = this.db.prepare(`SELECT * FROM snapshots WHERE name = ? AND ${USER}`).get(name) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** Replaces the stored manifest (a template's pool state changes). */
  setManifest(id: string, manifest: unknown): void {
    this.db.prepare('UPDATE snapshots SET manifest_json = ? WHERE id = ?').run(JSON.stringify(manifest), id);
  }

  nameTaken(name: string): boolean {
    return this.db.prepare('SELECT 1 FROM snapshots WHERE name = ?').get(name) !== undefined;
  }

  insert(row: SnapshotRow): void {
    this.db
      .prepare('INSERT INTO snapshots (id, name, source_vm_id, source_vm_name, image_id, dir, manifest_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(row.id, row.name, row.sourceVmId, row.sourceVmName, row.imageId, row.dir, JSON.stringify(row.manifest), row.createdAt);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM snapshots WHERE id = ?').run(id);
  }

  /** Records that a VM's disks are built over a snapshot's frozen disks. */
  addDependent(vmId: string, snapshotId: string): void {
    this.db.prepare('INSERT OR REPLACE INTO vm_snapshot_deps (vm_id, snapshot_id) VALUES (?, ?)').run(vmId, snapshotId);
  }

  /** Names of the VMs built over a snapshot, sorted. */
  dependents(snapshotId: string): string[] {
    return (
      this.db.prepare('SELECT v.name FROM vm_snapshot_deps d JOIN vms v ON v.id = d.vm_id WHERE d.snapshot_id = ? ORDER BY v.name').all(snapshotId) as { name: string }[]
    ).map((r) => r.name);
  }

  /** The snapshot a VM was restored from, if any. */
  snapshotOf(vmId: string): string | undefined {
    return (this.db.prepare('SELECT snapshot_id FROM vm_snapshot_deps WHERE vm_id = ?').get(vmId) as { snapshot_id: string } | undefined)?.snapshot_id;
  }
}
