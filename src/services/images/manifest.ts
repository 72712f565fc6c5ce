/** What a managed image directory holds (images/<id>/), and its manifest.json. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const IMAGE_FILES = {
  rootfs: 'rootfs.ext4',
  workSeed: 'work-seed.ext4',
  kernel: 'vmlinuz',
  initrd: 'initrd.img',
  modules: 'modules',
  manifest: 'manifest.json',
} as const;

export const ROOTFS_LABEL = 'bangerroot';
export const WORK_SEED_LABEL = 'bangerwork';

/** Kernel command line an image built by banger boots with (the hypervisor adds its own extras). */
export const IMAGE_CMDLINE = 'console=ttyS0 root=/dev/vda rw rootfstype=ext4';

export interface ImageManifest {
  schema: 1;
  id: string;
  name: string;
  distro: string;
  suite?: string;
  arch: string;
  source: string;
  recipe?: string;
  recipeDigest?: string;
  kernelVersion?: string;
  files: {
    rootfs: string;
    workSeed?: string;
    kernel?: string;
    initrd?: string;
    modules?: string;
  };
  sha256: { kernel?: string; initrd?: string };
  rootfsSizeBytes: number;
  cmdline: string;
  guestBits: { version: number; digest: string };
  createdAt: string;
}

export async function writeManifest(dir: string, m: ImageManifest): Promise<void> {
  await writeFile(join(dir, IMAGE_FILES.manifest), JSON.stringify(m, null, 2) + '\n', { mode: 0o644 });
}

export async function readManifest(dir: string): Promise<ImageManifest> {
  return JSON.parse(await readFile(join(dir, IMAGE_FILES.manifest), 'utf8')) as ImageManifest;
}
