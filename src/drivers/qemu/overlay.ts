/**
 * Per-VM copy-on-write roots: a qcow2 file that records only what the VM changes on top of an
 * immutable base image. Creating one is O(1) in the size of the base.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { link, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { alreadyExists, badRequest, notFound, operationFailed, unavailable } from '../../api/errors.js';
import { ExecError, ToolMissingError, run } from '../../system/exec.js';

export const QEMU_IMG_BIN = 'qemu-img';

export interface OverlayOptions {
  /** Format of the base image (default raw). */
  baseFormat?: 'raw' | 'qcow2';
  /** Virtual size of the overlay; default and minimum: the size of the base. */
  sizeBytes?: number;
  signal?: AbortSignal;
}

export interface ImageInfo {
  format: string;
  virtualSizeBytes: number;
  /** Bytes the file occupies on disk. */
  actualSizeBytes?: number;
  backingFile?: string;
  backingFormat?: string;
}

/**
 * Creates overlayPath as a qcow2 over basePath (stored by its absolute path). The file appears
 * complete or not at all; an existing overlay is never replaced.
 */
export async function createOverlay(basePath: string, overlayPath: string, opts: OverlayOptions = {}): Promise<void> {
  const base = resolve(basePath);
  const target = resolve(overlayPath);
  for (const p of [base, target]) {
    if (/[\0\n\r]/.test(p)) throw badRequest('image paths must not contain control characters');
  }
  const baseStat = await stat(base).catch(() => undefined);
  if (!baseStat?.isFile()) throw notFound(`base image "${base}" does not exist`);
  if (await stat(target).catch(() => undefined)) throw alreadyExists(`overlay "${target}" already exists`);
  if (opts.sizeBytes !== undefined && (!Number.isSafeInteger(opts.sizeBytes) || opts.sizeBytes <= 0)) {
    throw badRequest(`invalid overlay size ${String(opts.sizeBytes)}`);
  }
  if (opts.sizeBytes !== undefined && (opts.baseFormat ?? 'raw') === 'raw' && opts.sizeBytes < baseStat.size) {
    throw badRequest(`overlay size ${opts.sizeBytes} is smaller than its base (${baseStat.size} bytes)`);
  }

  const staging = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  const argv = [QEMU_IMG_BIN, 'create', '-q', '-f', 'qcow2', '-F', opts.baseFormat ?? 'raw', '-b', base, staging];
  if (opts.sizeBytes !== undefined) argv.push(String(opts.sizeBytes));
  try {
    await qemuImg(argv, `create overlay "${target}" over "${base}"`, opts.signal);
    // link() fails when the target exists, so a racing creator cannot be overwritten.
    await link(staging, target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') throw alreadyExists(`overlay "${target}" already exists`);
      throw err;
    });
  } finally {
    await unlink(staging).catch(() => undefined);
  }
}

export async function imageInfo(path: string, signal?: AbortSignal): Promise<ImageInfo> {
  if (!isAbsolute(path)) throw badRequest(`image path must be absolute, got "${path}"`);
  // -U: read the header even while a running VM holds the image's lock.
  const r = await qemuImg([QEMU_IMG_BIN, 'info', '-U', '--output=json', path], `inspect image "${path}"`, signal);
  const info = JSON.parse(r) as Record<string, unknown>;
  const out: ImageInfo = { format: String(info.format), virtualSizeBytes: Number(info['virtual-size']) };
  if (typeof info['actual-size'] === 'number') out.actualSizeBytes = info['actual-size'];
  const backing = info['full-backing-filename'] ?? info['backing-filename'];
  if (typeof backing === 'string') out.backingFile = backing;
  if (typeof info['backing-filename-format'] === 'string') out.backingFormat = info['backing-filename-format'];
  return out;
}

/** The size of the disk the guest sees. */
export async function imageVirtualSize(path: string, signal?: AbortSignal): Promise<number> {
  return (await imageInfo(path, signal)).virtualSizeBytes;
}

async function qemuImg(argv: string[], what: string, signal?: AbortSignal): Promise<string> {
  try {
    return (await run(argv, { timeoutMs: 60_000, signal })).stdout;
  } catch (err) {
    if (err instanceof ToolMissingError) throw unavailable(`${QEMU_IMG_BIN} not found`, 'apt-get install qemu-utils');
    if (err instanceof ExecError) throw operationFailed(`cannot ${what}: ${err.lastLines(3)}`, undefined, err);
    throw err;
  }
}
