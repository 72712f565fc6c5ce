/** The work seed: an ext4 copy of an image's /root that each VM's work disk starts from. */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { debugfsWrite, mkfsFromDir, rdump, roundUpMiB, stat } from '../../drivers/ext4/index.js';
import { treeUsage } from './tree.js';
import { WORK_SEED_LABEL } from './manifest.js';

const MiB = 1024 * 1024;

/** Makes the work seed from a host directory (the image tree's /root). Root's home stays 0700 root:root. */
export async function workSeedFromDir(dir: string, dest: string, signal?: AbortSignal): Promise<void> {
  const usage = await treeUsage(dir);
  const size = roundUpMiB(Math.max(64 * MiB, usage.bytes * 1.3 + 32 * MiB));
  await mkfsFromDir(dest, dir, { label: WORK_SEED_LABEL, sizeBytes: size, blockSize: 4096, signal });
  await debugfsWrite(dest, ['set_inode_field <2> mode 040700', 'set_inode_field <2> uid 0', 'set_inode_field <2> gid 0'], signal);
}

/** Makes the work seed from the /root of an ext4 image (empty when the image has none). */
export async function workSeedFromImage(image: string, dest: string, scratchDir: string, signal?: AbortSignal): Promise<void> {
  const tmp = await mkdtemp(join(scratchDir, 'root-'));
  try {
    await chmod(tmp, 0o700);
    const root = await stat(image, '/root');
    if (root?.type === 'dir') await rdump(image, '/root', tmp);
    await workSeedFromDir(tmp, dest, signal);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
