/** Per-VM disks: a copy-on-write root over the image, and a persistent work disk for /root. */
import { mkdirSync } from 'node:fs';
import type { ImageInfo } from '../../api/types.js';
import { createOverlay } from '../../drivers/qemu/overlay.js';
import { growExt4 } from '../../drivers/ext4/maintain.js';
import { mkfsFromDir } from '../../drivers/ext4/mkfs.js';
import { run } from '../../system/exec.js';
import type { VMFiles } from './files.js';

export async function prepareDisks(files: VMFiles, image: ImageInfo, diskSizeBytes: number, signal?: AbortSignal): Promise<void> {
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  await createOverlay(image.rootfsPath, files.rootOverlay);
  await makeWorkDisk(files.workDisk, image.workSeedPath, diskSizeBytes, signal);
}

export async function makeWorkDisk(path: string, seed: string | undefined, sizeBytes: number, signal?: AbortSignal): Promise<void> {
  if (seed) {
    await run(['cp', '--sparse=always', '--reflink=auto', seed, path], { signal });
    await growExt4(path, sizeBytes, signal);
  } else {
    await mkfsFromDir(path, undefined, { sizeBytes, label: 'banger-work' });
  }
}
