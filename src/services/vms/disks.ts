/** Per-VM disks: a copy-on-write root over the image (made by the driver), and a persistent work disk for /root. */
import { mkdirSync, statSync } from 'node:fs';
import { badRequest } from '../../api/errors.js';
import type { ImageInfo, VMSpec } from '../../api/types.js';
import type { HypervisorDriver } from '../../drivers/hypervisor.js';
import { growExt4 } from '../../drivers/ext4/maintain.js';
import { mkfsFromDir } from '../../drivers/ext4/mkfs.js';
import type { VMFiles } from '../../model/filenames.js';
import { formatSize } from '../../model/size.js';
import { run } from '../../system/exec.js';

export async function prepareDisks(driver: HypervisorDriver, files: VMFiles, image: ImageInfo, spec: VMSpec, signal?: AbortSignal): Promise<void> {
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const baseBytes = statSync(image.rootfsPath).size;
  if (spec.rootSizeBytes !== undefined && spec.rootSizeBytes < baseBytes) {
    throw badRequest(
      `root size ${formatSize(spec.rootSizeBytes)} is smaller than image ${image.name}'s root filesystem (${formatSize(baseBytes)})`,
      `pass --root-size ${formatSize(Math.ceil(baseBytes / 1024 ** 3) * 1024 ** 3)} or more`,
    );
  }
  const root = files.rootDisk(driver.capabilities().rootDiskFormat);
  await driver.createRootDisk(image.rootfsPath, root, { ...(spec.rootSizeBytes !== undefined ? { sizeBytes: spec.rootSizeBytes } : {}), ...(signal ? { signal } : {}) });
  await makeWorkDisk(files.workDisk, image.workSeedPath, spec.diskSizeBytes, signal);
}

export async function makeWorkDisk(path: string, seed: string | undefined, sizeBytes: number, signal?: AbortSignal): Promise<void> {
  if (seed) {
    await run(['cp', '--sparse=always', '--reflink=auto', seed, path], { signal });
    await growExt4(path, sizeBytes, signal);
  } else {
    await mkfsFromDir(path, undefined, { sizeBytes, label: 'banger-work' });
  }
}
