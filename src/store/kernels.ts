/** Repository for the kernels table. */
import type { Database } from 'better-sqlite3';
import type { KernelInfo } from '../api/types.js';

export interface KernelRecord extends KernelInfo {
  /** The kernel's directory (kernels/<name>). */
  dir: string;
}

interface Row {
  name: string;
  distro: string;
  arch: string;
  kernel_version: string;
  dir: string;
  kernel_path: string;
  initrd_path: string | null;
  modules_path: string | null;
  sha256: string;
  initrd_sha256: string | null;
  source: string;
  imported_at: string;
}

function fromRow(r: Row): KernelRecord {
  const k: KernelRecord = {
    name: r.name,
    distro: r.distro,
    arch: r.arch,
    kernelVersion: r.kernel_version,
    dir: r.dir,
    kernelPath: r.kernel_path,
    sha256: r.sha256,
    source: r.source,
    importedAt: r.imported_at,
  };
  if (r.initrd_path !== null) k.initrdPath = r.initrd_path;
  if (r.modules_path !== null) k.modulesPath = r.modules_path;
  if (r.initrd_sha256 !== null) k.initrdSha256 = r.initrd_sha256;
  return k;
}

export class KernelRepository {
  constructor(private readonly db: Database) {}

  list(): KernelRecord[] {
    return (this.db.prepare('SELECT * FROM kernels ORDER BY name').all() as Row[]).map(fromRow);
  }

  get(name: string): KernelRecord | undefined {
    const r = this.db.prepare('SELECT * FROM kernels WHERE name = ?').get(name) as Row | undefined;
    return r && fromRow(r);
  }

  insert(k: KernelRecord): void {
    this.db
      .prepare(
        `INSERT INTO kernels (name, distro, arch, kernel_version, dir, kernel_path, initrd_path, modules_path, sha256, initrd_sha256, source, imported_at)
         VALUES (@name, @distro, @arch, @kernel_version, @dir, @kernel_path, @initrd_path, @modules_path, @sha256, @initrd_sha256, @source, @imported_at)`,
      )
      .run({
        name: k.name,
        distro: k.distro,
        arch: k.arch,
        kernel_version: k.kernelVersion,
        dir: k.dir,
        kernel_path: k.kernelPath,
        initrd_path: k.initrdPath ?? null,
        modules_path: k.modulesPath ?? null,
        sha256: k.sha256,
        initrd_sha256: k.initrdSha256 ?? null,
        source: k.source,
        imported_at: k.importedAt,
      });
  }

  delete(name: string): boolean {
    return this.db.prepare('DELETE FROM kernels WHERE name = ?').run(name).changes === 1;
  }
}
