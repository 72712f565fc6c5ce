/** Layers (blob files, in order) -> a staging tree -> rootfs.ext4 with the layers' owners, modes and xattrs. */
import { mkdir } from 'node:fs/promises';
import { badRequest } from '../../../api/errors.js';
import { applyInodeFixes, mkfsFromDir, roundUpMiB, type InodeFix } from '../../../drivers/ext4/index.js';
import { throwIfCancelled, type OpContext } from '../../op-context.js';
import { treeUsage } from '../tree.js';
import { openLayer, type OpenedLayer } from './decompress.js';
import { LayerTree, type EntryMeta } from './layer-tree.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const TYPE_BITS: Record<EntryMeta['type'], number> = { file: 0o100000, dir: 0o040000, symlink: 0o120000, fifo: 0o010000 };

/** Root filesystem size for a pull: content x1.5, at least 1 GiB, in whole MiB. */
export function pulledRootfsSize(contentBytes: number): number {
  return roundUpMiB(Math.max(GiB, contentBytes * 1.5));
}

export interface LayerFile {
  path: string;
  /** Names the layer in errors (its digest). */
  label: string;
}

/** An empty tree at `tree` (which must not exist) for layers to be applied to. */
export async function newLayerTree(tree: string, ctx: OpContext): Promise<LayerTree> {
  await mkdir(tree, { mode: 0o755 });
  return new LayerTree(tree, { warn: (m) => ctx.log(m, 'warn'), signal: ctx.signal });
}

/** Applies one opened layer; fails when its tar, its compression or its source (download, digest) fails. */
export async function applyOpenedLayer(lt: LayerTree, layer: OpenedLayer, label: string, ctx: OpContext): Promise<void> {
  const { stream, done } = layer;
  // The decompressor's outcome, observed at once so a failure while unpacking leaves no stray rejection.
  const settled = done.then(() => undefined, (err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  try {
    await lt.applyLayer(stream, label);
  } catch (err) {
    stream.destroy();
    await settled;
    throw err;
  }
  const failure = await settled;
  if (failure && !ctx.signal.aborted) throw failure;
  throwIfCancelled(ctx.signal);
}

/** Unpacks the layer files into `tree` (which must not exist). Returns the tree with its metadata. */
export async function unpackLayers(layers: readonly LayerFile[], tree: string, ctx: OpContext): Promise<LayerTree> {
  const lt = await newLayerTree(tree, ctx);
  let i = 0;
  for (const l of layers) {
    await applyOpenedLayer(lt, await openLayer(l.path, ctx.signal), l.label, ctx);
    ctx.progress(++i, layers.length, 'layers');
  }
  return lt;
}

/** The debugfs fixes that give the ext4 the layers' metadata. */
export function fixesFor(lt: LayerTree): InodeFix[] {
  const out: InodeFix[] = [];
  for (const [path, m] of lt.meta) {
    if (lt.exact.has(path) && !m.xattrs) continue;
    const f: InodeFix = { path, uid: m.uid, gid: m.gid };
    if (m.type !== 'symlink') f.mode = TYPE_BITS[m.type] | m.mode;
    if (m.type === 'fifo') f.fifo = true;
    if (m.xattrs) f.xattrs = m.xattrs;
    out.push(f);
  }
  return out;
}

export interface TreeToExt4Options {
  label: string;
  /** Exact size; default pulledRootfsSize(content). */
  sizeBytes?: number;
  scratchDir: string;
}

/** mkfs.ext4 -d of the tree, then one debugfs pass for owners, modes, xattrs and FIFOs. Returns the size. */
export async function treeToExt4(lt: LayerTree, dest: string, opts: TreeToExt4Options, ctx: OpContext): Promise<number> {
  const usage = treeUsage(lt.root);
  const need = roundUpMiB(usage.bytes * 1.1 + 16 * MiB);
  if (opts.sizeBytes !== undefined && opts.sizeBytes < need) {
    throw badRequest(`--size ${Math.round(opts.sizeBytes / MiB)}MiB is too small for the image's ${Math.round(usage.bytes / MiB)}MiB`, `use --size ${Math.ceil(need / MiB)}M or more, or leave it out`);
  }
  const size = opts.sizeBytes ?? pulledRootfsSize(usage.bytes);
  const inodes = Math.ceil(usage.inodes * 1.5) + 4096;
  await mkfsFromDir(dest, lt.root, {
    label: opts.label,
    sizeBytes: size,
    blockSize: 4096,
    inodes: inodes > size / 16384 ? inodes : undefined,
    signal: ctx.signal,
  });
  throwIfCancelled(ctx.signal);
  await applyInodeFixes(dest, fixesFor(lt), opts.scratchDir, ctx.signal);
  return size;
}
