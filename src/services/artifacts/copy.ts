/** Copying artifacts (image and kernel files): sparse files stay sparse, reflinks where the filesystem has them. */
import { run } from '../../system/exec.js';
import { toolError } from '../../drivers/ext4/debugfs.js';

export async function copySparse(src: string, dest: string, signal?: AbortSignal): Promise<void> {
  try {
    await run(['cp', '--sparse=always', '--reflink=auto', '--no-preserve=all', '--', src, dest], { signal });
  } catch (err) {
    throw toolError(err, 'cp');
  }
}

/** Copies a directory tree, keeping modes, links and (as root) owners. */
export async function copyTree(src: string, dest: string, signal?: AbortSignal): Promise<void> {
  try {
    await run(['cp', '-a', '--reflink=auto', '--', src, dest], { signal });
  } catch (err) {
    throw toolError(err, 'cp');
  }
}
