/**
 * The trimmed-boot path of an image's initramfs: banger's /init (guest/trim-init.ts), appended as an
 * uncompressed cpio after the initramfs-tools initramfs, with initramfs-tools' own /init kept beside it
 * for untrimmed boots. The kernel unpacks concatenated archives in order, so the appended /init
 * replaces the first one; zero bytes between them end the compressed archive and align the next.
 */
import { appendFile, chmod, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../system/exec.js';
import { toolError } from '../../drivers/ext4/debugfs.js';
import { INITRAMFS_TOOLS_INIT, TRIM_INIT_SCRIPT } from '../../guest/index.js';

/** The /init that initramfs-tools puts in every initramfs it makes, in the image's tree. */
export const INITRAMFS_TOOLS_INIT_SOURCE = '/usr/share/initramfs-tools/init';

/** Zero bytes after an archive of `size` bytes: at least 4 (an lz4 archive ends at a zero chunk size), up to a multiple of 4. */
export function paddingAfter(size: number): number {
  return 4 + ((4 - (size % 4)) % 4);
}

/**
 * Appends the trimmed-boot /init to `initrd` when the image's initramfs comes from initramfs-tools
 * (the tree has its /init); returns whether it did. Images with another initramfs are left as they are.
 */
export async function appendTrimInit(initrd: string, tree: string, scratchDir: string, signal?: AbortSignal): Promise<boolean> {
  const original = join(tree, INITRAMFS_TOOLS_INIT_SOURCE);
  if (!existsSync(original)) return false;
  const dir = await mkdtemp(join(scratchDir, 'trim-init-'));
  try {
    const names = ['init', INITRAMFS_TOOLS_INIT.slice(1)];
    await writeFile(join(dir, names[0]!), TRIM_INIT_SCRIPT);
    await copyFile(original, join(dir, names[1]!));
    for (const n of names) await chmod(join(dir, n), 0o755);
    const cpio = join(dir, 'chunk.cpio');
    try {
      await run(['cpio', '--quiet', '-o', '-H', 'newc', '-R', '0:0', '-F', cpio], { cwd: dir, input: names.join('\n') + '\n', signal });
    } catch (err) {
      throw toolError(err, 'cpio');
    }
    const size = (await stat(initrd)).size;
    await appendFile(initrd, Buffer.concat([Buffer.alloc(paddingAfter(size)), await readFile(cpio)]));
    return true;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
