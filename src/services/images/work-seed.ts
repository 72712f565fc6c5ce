/** The work seed: an ext4 copy of an image's /root that each VM's work disk starts from. */
import { chmod, lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { debugfsWrite, guestPathProblem, mkfsFromDir, rdump, roundUpMiB, stat } from '../../drivers/ext4/index.js';
import { treeUsage } from './tree.js';
import { WORK_SEED_LABEL } from './manifest.js';

const MiB = 1024 * 1024;

/** Makes the work seed from a host directory (the image tree's /root). Root's home stays 0700 root:root. */
export async function workSeedFromDir(dir: string, dest: string, signal?: AbortSignal): Promise<void> {
  const usage = treeUsage(dir);
  const size = roundUpMiB(Math.max(64 * MiB, usage.bytes * 1.3 + 32 * MiB));
  await mkfsFromDir(dest, dir, { label: WORK_SEED_LABEL, sizeBytes: size, blockSize: 4096, signal });
  const cmds = ['set_inode_field <2> mode 040700', 'set_inode_field <2> uid 0', 'set_inode_field <2> gid 0'];
  // mkfs.ext4 -d copies host owners; without root the copies belong to the caller, so give everything back to root.
  if (process.getuid?.() !== 0) {
    for (const p of await guestPaths(dir)) cmds.push(`set_inode_field "${p}" uid 0`, `set_inode_field "${p}" gid 0`);
  }
  await debugfsWrite(dest, cmds, signal);
}

/** Every path below dir, as absolute guest paths (names debugfs cannot quote are refused). */
async function guestPaths(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    const guest = `${prefix}/${name}`;
    const problem = guestPathProblem(guest);
    if (problem) throw new Error(`cannot fix the owner of ${guest} in the work seed: ${problem}`);
    out.push(guest);
    if ((await lstat(join(dir, name))).isDirectory()) out.push(...(await guestPaths(join(dir, name), guest)));
  }
  return out;
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
