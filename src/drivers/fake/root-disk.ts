/**
 * The fake driver's root disks: a sparse raw copy of the base image (a reflink where the filesystem
 * can), grown to the requested size. The copy is made under a temporary name and hard-linked into
 * place, so the target appears complete or not at all and an existing target is never replaced.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { stat, truncate, unlink, link } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { alreadyExists, badRequest, notFound, operationFailed } from '../../api/errors.js';
import { ExecError, run } from '../../system/exec.js';

export async function createRawRootDisk(basePath: string, targetPath: string, opts: { sizeBytes?: number; signal?: AbortSignal } = {}): Promise<void> {
  const base = resolve(basePath);
  const target = resolve(targetPath);
  for (const p of [base, target]) {
    if (/[\0\n\r]/.test(p)) throw badRequest('image paths must not contain control characters');
  }
  const baseStat = await stat(base).catch(() => undefined);
  if (!baseStat?.isFile()) throw notFound(`base image "${base}" does not exist`);
  if (await stat(target).catch(() => undefined)) throw alreadyExists(`root disk "${target}" already exists`);
  if (opts.sizeBytes !== undefined && (!Number.isSafeInteger(opts.sizeBytes) || opts.sizeBytes <= 0)) {
    throw badRequest(`invalid root disk size ${String(opts.sizeBytes)}`);
  }
  if (opts.sizeBytes !== undefined && opts.sizeBytes < baseStat.size) {
    throw badRequest(`root disk size ${opts.sizeBytes} is smaller than its base (${baseStat.size} bytes)`);
  }

  const staging = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    try {
      await run(['cp', '--sparse=always', '--reflink=auto', base, staging], { signal: opts.signal, timeoutMs: 300_000 });
    } catch (err) {
      opts.signal?.throwIfAborted();
      if (err instanceof ExecError) throw operationFailed(`cannot copy "${base}" to "${target}": ${err.lastLines(3)}`, undefined, err);
      throw err;
    }
    opts.signal?.throwIfAborted();
    if (opts.sizeBytes !== undefined && opts.sizeBytes > baseStat.size) await truncate(staging, opts.sizeBytes);
    // link() fails when the target exists, so a racing creator cannot be overwritten.
    await link(staging, target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') throw alreadyExists(`root disk "${target}" already exists`);
      throw err;
    });
  } finally {
    await unlink(staging).catch(() => undefined);
  }
}
