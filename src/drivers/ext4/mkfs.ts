/** Making ext4 images from host directories (no mount, no root needed) and recognising them. */
import { open, rm, truncate, writeFile, stat } from 'node:fs/promises';
import { run } from '../../system/exec.js';
import { badRequest } from '../../api/errors.js';
import { toolError } from './debugfs.js';

export interface MkfsOptions {
  label: string;
  sizeBytes: number;
  /** ext4 without a journal (small read-only disks). */
  noJournal?: boolean;
  /** Inode count, when the default ratio would be too small for the tree. */
  inodes?: number;
  /** Block size in bytes (mke2fs picks 1024 for small filesystems; disks that will be grown want 4096). */
  blockSize?: 1024 | 2048 | 4096;
  signal?: AbortSignal;
}

const MiB = 1024 * 1024;

export function labelProblem(label: string): string | undefined {
  if (!/^[A-Za-z0-9._-]{1,16}$/.test(label)) return `label ${JSON.stringify(label)} must be 1-16 letters, digits, ".", "_" or "-"`;
  return undefined;
}

/** Rounds up to whole MiB. */
export function roundUpMiB(bytes: number): number {
  return Math.ceil(bytes / MiB) * MiB;
}

/**
 * Creates a sparse file of sizeBytes and formats it as ext4 holding a copy of dir.
 * Ownership, modes (setuid included) and xattrs are copied from the tree; the root directory is root-owned.
 */
export async function mkfsFromDir(file: string, dir: string | undefined, opts: MkfsOptions): Promise<void> {
  const problem = labelProblem(opts.label);
  if (problem) throw badRequest(problem);
  if (!Number.isInteger(opts.sizeBytes) || opts.sizeBytes < 4 * MiB) throw badRequest(`ext4 size ${opts.sizeBytes} is too small (minimum 4MiB)`);
  const size = roundUpMiB(opts.sizeBytes);
  await rm(file, { force: true });
  await writeFile(file, '', { mode: 0o644 });
  await truncate(file, size);
  const argv = ['mkfs.ext4', '-F', '-q', '-L', opts.label];
  if (opts.noJournal) argv.push('-O', '^has_journal');
  if (opts.inodes) argv.push('-N', String(opts.inodes));
  if (opts.blockSize) argv.push('-b', String(opts.blockSize));
  if (dir !== undefined) argv.push('-d', dir);
  argv.push('-E', 'root_owner=0:0', file, `${size / 1024}k`);
  try {
    await run(argv, { signal: opts.signal });
  } catch (err) {
    await rm(file, { force: true });
    throw toolError(err, 'mkfs.ext4');
  }
}

const EXT_MAGIC_OFFSET = 1024 + 56;

/** True when the file carries an ext2/3/4 superblock. */
export async function isExt4(path: string): Promise<boolean> {
  let fh;
  try {
    const st = await stat(path);
    if (!st.isFile() && !st.isBlockDevice()) return false;
    fh = await open(path, 'r');
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, EXT_MAGIC_OFFSET);
    return bytesRead === 2 && buf.readUInt16LE(0) === 0xef53;
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}
