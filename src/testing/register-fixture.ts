/** Files `image register` accepts without a real build: a small ext4 rootfs and a stub bzImage (never booted). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, which } from '../system/exec.js';

export interface RegisterFiles {
  rootfs: string;
  kernel: string;
}

/** Why the fixture cannot be made here, or undefined when it can. */
export function registerFixtureSkipReason(): string | undefined {
  return which('mkfs.ext4') ? undefined : 'mkfs.ext4 is not installed (apt-get install e2fsprogs)';
}

export async function makeRegisterFiles(dir: string): Promise<RegisterFiles> {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'root'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc', 'hostname'), 'fixture\n');
  const rootfs = join(dir, 'rootfs.ext4');
  await run(['mkfs.ext4', '-q', '-F', '-d', tree, rootfs, '16M']);
  const kernel = join(dir, 'vmlinuz');
  const head = Buffer.alloc(0x400);
  head.write('HdrS', 0x202, 'latin1');
  writeFileSync(kernel, head);
  return { rootfs, kernel };
}
