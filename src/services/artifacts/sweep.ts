/**
 * Removing artifact directories that no store row refers to. An image or kernel is published by
 * renaming its finished directory into place and then inserting its row; a delete removes the row
 * first and the directory after. A crash between the two leaves a directory nothing refers to: it
 * is either half-published or half-deleted, and in both cases the user's next command expects it
 * gone. Call this when no operation is running (daemon start).
 *
 * @module
 */
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { Layout } from '../../config/paths.js';
import { ImageRepository } from '../../store/images.js';
import { KernelRepository } from '../../store/kernels.js';
import { removeTree } from './staging.js';

export interface SweepReport {
  images: string[];
  kernels: string[];
}

async function unreferenced(root: string, referenced: ReadonlySet<string>): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  return names.filter((n) => !referenced.has(join(root, n)));
}

export async function sweepArtifacts(db: Database, layout: Layout): Promise<SweepReport> {
  const imageDirs = new Set(new ImageRepository(db).list().flatMap((i) => (i.dir ? [join(layout.imagesDir, basename(i.dir))] : [])));
  const kernelDirs = new Set(new KernelRepository(db).list().map((k) => join(layout.kernelsDir, basename(k.dir))));
  const report: SweepReport = { images: await unreferenced(layout.imagesDir, imageDirs), kernels: await unreferenced(layout.kernelsDir, kernelDirs) };
  for (const n of report.images) await removeTree(join(layout.imagesDir, n));
  for (const n of report.kernels) await removeTree(join(layout.kernelsDir, n));
  return report;
}
