/** Repository for the images table. */
import type { Database } from 'better-sqlite3';
import type { ImageInfo } from '../api/types.js';

export interface ImageRecord extends ImageInfo {
  /** The managed artifact directory (images/<id>), absent for registered images. */
  dir?: string;
}

interface Row {
  id: string;
  name: string;
  managed: number;
  distro: string;
  arch: string;
  source: string;
  dir: string | null;
  rootfs_path: string;
  work_seed_path: string | null;
  kernel_ref: string | null;
  kernel_path: string | null;
  initrd_path: string | null;
  modules_path: string | null;
  size_bytes: number;
  meta_json: string;
  created_at: string;
}

function fromRow(r: Row): ImageRecord {
  const img: ImageRecord = {
    id: r.id,
    name: r.name,
    managed: r.managed === 1,
    distro: r.distro,
    arch: r.arch,
    source: r.source,
    rootfsPath: r.rootfs_path,
    sizeBytes: r.size_bytes,
    createdAt: r.created_at,
    meta: parseMeta(r.meta_json),
  };
  if (r.dir !== null) img.dir = r.dir;
  if (r.work_seed_path !== null) img.workSeedPath = r.work_seed_path;
  if (r.kernel_ref !== null) img.kernelRef = r.kernel_ref;
  if (r.kernel_path !== null) img.kernelPath = r.kernel_path;
  if (r.initrd_path !== null) img.initrdPath = r.initrd_path;
  if (r.modules_path !== null) img.modulesPath = r.modules_path;
  return img;
}

function parseMeta(json: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(json);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function toParams(img: ImageRecord): Row {
  return {
    id: img.id,
    name: img.name,
    managed: img.managed ? 1 : 0,
    distro: img.distro,
    arch: img.arch,
    source: img.source,
    dir: img.dir ?? null,
    rootfs_path: img.rootfsPath,
    work_seed_path: img.workSeedPath ?? null,
    kernel_ref: img.kernelRef ?? null,
    kernel_path: img.kernelPath ?? null,
    initrd_path: img.initrdPath ?? null,
    modules_path: img.modulesPath ?? null,
    size_bytes: img.sizeBytes,
    meta_json: JSON.stringify(img.meta ?? {}),
    created_at: img.createdAt,
  };
}

const COLUMNS = [
  'id', 'name', 'managed', 'distro', 'arch', 'source', 'dir', 'rootfs_path', 'work_seed_path', 'kernel_ref',
  'kernel_path', 'initrd_path', 'modules_path', 'size_bytes', 'meta_json', 'created_at',
] as const;

export class ImageRepository {
  constructor(private readonly db: Database) {}

  list(): ImageRecord[] {
    return (this.db.prepare('SELECT * FROM images ORDER BY name').all() as Row[]).map(fromRow);
  }

  getById(id: string): ImageRecord | undefined {
    const r = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as Row | undefined;
    return r && fromRow(r);
  }

  getByName(name: string): ImageRecord | undefined {
    const r = this.db.prepare('SELECT * FROM images WHERE name = ?').get(name) as Row | undefined;
    return r && fromRow(r);
  }

  /** By name first, then by id or a unique id prefix of at least 4 characters. */
  find(nameOrId: string): ImageRecord | undefined {
    const byName = this.getByName(nameOrId);
    if (byName) return byName;
    const byId = this.getById(nameOrId);
    if (byId) return byId;
    if (nameOrId.length < 4 || !/^[0-9a-f]+$/.test(nameOrId)) return undefined;
    const rows = this.db.prepare("SELECT * FROM images WHERE id LIKE ? || '%' LIMIT 2").all(nameOrId) as Row[];
    return rows.length === 1 ? fromRow(rows[0]!) : undefined;
  }

  insert(img: ImageRecord): void {
    this.db
      .prepare(`INSERT INTO images (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`)
      .run(toParams(img));
  }

  update(img: ImageRecord): void {
    const sets = COLUMNS.filter((c) => c !== 'id').map((c) => `${c} = @${c}`).join(', ');
    const r = this.db.prepare(`UPDATE images SET ${sets} WHERE id = @id`).run(toParams(img));
    if (r.changes !== 1) throw new Error(`image ${img.id} is not in the store`);
  }

  delete(id: string): boolean {
    return this.db.prepare('DELETE FROM images WHERE id = ?').run(id).changes === 1;
  }
}
