/** Working on the root filesystem tree of an image build, before it becomes ext4. */
import { chmod, chown, copyFile, lstat, mkdir, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { operationFailed } from '../../api/errors.js';
import type { RecipeFile } from './recipes.js';

export interface TreeUsage {
  bytes: number;
  inodes: number;
}

/** Disk usage of a tree (allocated blocks, hard links counted once) without crossing mount points. */
export function treeUsage(root: string): TreeUsage {
  const seen = new Set<string>();
  const top = lstatSync(root);
  let bytes = 0;
  let inodes = 0;
  // Synchronous calls: a tree holds many thousands of entries, and a thread-pool round trip each costs more than the call.
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.dev !== top.dev) continue;
      const key = `${st.ino}`;
      if (st.nlink > 1 && seen.has(key)) continue;
      seen.add(key);
      inodes += 1;
      bytes += st.blocks * 512;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return { bytes, inodes };
}

export interface BootFiles {
  version: string;
  kernel: string;
  initrd: string;
}

function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Finds the kernel and initramfs in the tree's /boot (the one /vmlinuz points at, else the newest). */
export async function findBootFiles(root: string): Promise<BootFiles> {
  const boot = join(root, 'boot');
  const names = await readdir(boot).catch(() => [] as string[]);
  const versions = names.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice('vmlinuz-'.length));
  if (versions.length === 0) throw operationFailed('the image has no kernel in /boot', 'the recipe must install a kernel package (linux-image-cloud-amd64)');
  let version = versions.sort(compareVersions)[versions.length - 1]!;
  for (const link of [join(root, 'vmlinuz'), join(boot, 'vmlinuz')]) {
    const target = await readlink(link).catch(() => undefined);
    const m = target && /vmlinuz-(.+)$/.exec(target);
    if (m && versions.includes(m[1]!)) {
      version = m[1]!;
      break;
    }
  }
  const initrd = `initrd.img-${version}`;
  if (!names.includes(initrd)) {
    throw operationFailed(`the image has no initramfs for kernel ${version}`, 'the recipe must install initramfs-tools');
  }
  return { version, kernel: join(boot, `vmlinuz-${version}`), initrd: join(boot, initrd) };
}

/** Writes the recipe's extra files (root-owned). */
export async function writeRecipeFiles(root: string, files: readonly RecipeFile[]): Promise<void> {
  for (const f of files) {
    const dest = join(root, f.path);
    const parent = join(dest, '..');
    await mkdir(parent, { recursive: true, mode: 0o755 });
    const st = await lstat(dest).catch(() => undefined);
    if (st?.isSymbolicLink()) await rm(dest);
    const mode = parseInt(f.mode, 8);
    await writeFile(dest, f.content, { mode });
    await chmod(dest, mode);
    if (process.getuid?.() === 0) await chown(dest, 0, 0);
  }
}

/** Replaces a file in the tree with fixed content (a symlink there is replaced, not followed). */
export async function replaceFile(root: string, path: string, content: string, mode = 0o644): Promise<void> {
  const dest = join(root, path);
  await rm(dest, { force: true });
  await writeFile(dest, content, { mode });
  await chmod(dest, mode);
}

/** Empties a directory in the tree, keeping the directory itself. */
export async function emptyDir(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

export async function copyOut(src: string, dest: string): Promise<void> {
  await copyFile(src, dest);
  await chmod(dest, 0o644);
}
