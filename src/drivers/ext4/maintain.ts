/** Checking and growing ext4 images. */
import { stat, truncate } from 'node:fs/promises';
import { runUnchecked, run } from '../../system/exec.js';
import { badRequest, operationFailed } from '../../api/errors.js';
import { toolError } from './debugfs.js';
import { roundUpMiB } from './mkfs.js';

export interface FsckResult {
  clean: boolean;
  /** e2fsck's exit status (0 clean, 4 errors left, 8 operational error). */
  status: number;
  output: string;
}

/** Read-only full check (`e2fsck -fn`): reports, changes nothing. */
export async function checkExt4(image: string): Promise<FsckResult> {
  let r;
  try {
    r = await runUnchecked(['e2fsck', '-f', '-n', image]);
  } catch (err) {
    throw toolError(err, 'e2fsck');
  }
  const status = r.code ?? 8;
  if (status >= 8) throw operationFailed(`e2fsck could not check ${image}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join('; ')}`);
  return { clean: status === 0, status, output: r.stdout + r.stderr };
}

/** Grows an image file and its filesystem to sizeBytes (rounded up to MiB). Never shrinks. */
export async function growExt4(image: string, sizeBytes: number, signal?: AbortSignal): Promise<number> {
  const target = roundUpMiB(sizeBytes);
  const current = (await stat(image)).size;
  if (target < current) throw badRequest(`cannot shrink ${image} from ${current} to ${target} bytes`);
  if (target === current) return current;
  let fsck;
  try {
    fsck = await runUnchecked(['e2fsck', '-f', '-p', image], { signal });
  } catch (err) {
    throw toolError(err, 'e2fsck');
  }
  if (fsck.code === null || fsck.code > 1) {
    throw operationFailed(`${image} has filesystem errors; not growing it`, `run e2fsck -f ${image}`);
  }
  try {
    await truncate(image, target);
  } catch (err) {
    await truncate(image, current).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'EFBIG') {
      throw badRequest(`cannot grow ${image} to ${target} bytes: the filesystem holding it does not take files that large`, 'ask for a smaller size');
    }
    throw operationFailed(`cannot grow ${image} to ${target} bytes: ${(err as Error).message}`, undefined, err);
  }
  try {
    await run(['resize2fs', image], { signal });
  } catch (err) {
    await truncate(image, current);
    throw toolError(err, 'resize2fs');
  }
  return target;
}
