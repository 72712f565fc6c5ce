/** Applies the guest bits to an ext4 image (debugfs, no mount) or to a directory tree before mkfs. */
import { chmod, lchown, lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badRequest } from '../api/errors.js';
import { listDir, readText, removeFiles, stat, writeFiles, type Ext4Entry } from '../drivers/ext4/index.js';
import { GUEST_ABSENT, guestBits, guestPatches, type GuestBit } from './guest-bits.js';
import { firstBootBits } from './first-boot.js';
import { isImageHostKey } from './sshd.js';

const SSH_DIR = '/etc/ssh';

function rootOwned(bits: readonly GuestBit[]): Ext4Entry[] {
  return bits.map((b) =>
    b.type === 'file'
      ? { type: 'file', path: b.path, content: b.content, mode: b.mode, uid: 0, gid: 0 }
      : { type: 'symlink', path: b.path, target: b.target, uid: 0, gid: 0 },
  );
}

/** Writes every guest bit into an existing ext4 image, root-owned, and removes the image's SSH host keys. */
export async function injectGuestBits(image: string, signal?: AbortSignal): Promise<void> {
  const entries = rootOwned(guestBits());
  for (const p of guestPatches()) {
    const st = await stat(image, p.path);
    const content = p.patch(st?.type === 'file' ? await readText(image, p.path) : undefined);
    if (content !== undefined) entries.push({ type: 'file', path: p.path, content, mode: 0o644, uid: 0, gid: 0 });
  }
  await writeFiles(image, entries, signal);
  const sshEntries = (await listDir(image, SSH_DIR)) ?? [];
  const keys = sshEntries.filter((e) => e.type !== 'dir' && isImageHostKey(e.name)).map((e) => `${SSH_DIR}/${e.name}`);
  await removeFiles(image, [...keys, ...GUEST_ABSENT], signal);
}

/** Writes the first-boot installer running these commands into an existing ext4 image, root-owned. */
export async function injectFirstBoot(image: string, commands: readonly (readonly string[])[], signal?: AbortSignal): Promise<void> {
  await writeFiles(image, rootOwned(firstBootBits(commands)), signal);
}

/** Creates the parent directories of a path inside root (0755), refusing to pass through symlinks. */
async function safeParent(root: string, path: string, chownOk: boolean): Promise<string> {
  const parts = path.split('/').filter(Boolean);
  let cur = root;
  for (const part of parts.slice(0, -1)) {
    cur = join(cur, part);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) {
      await mkdir(cur, { mode: 0o755 });
      await chmod(cur, 0o755);
      if (chownOk) await lchown(cur, 0, 0);
    } else if (st.isSymbolicLink() || !st.isDirectory()) {
      throw badRequest(`${path}: ${cur} is not a plain directory in the image tree`);
    }
  }
  return join(cur, parts[parts.length - 1]!);
}

/** Lays the guest bits into a root filesystem tree (for image builds, before mkfs.ext4 -d). */
export async function layGuestBits(root: string): Promise<void> {
  const chownOk = process.getuid?.() === 0;
  for (const b of guestBits()) {
    const dest = await safeParent(root, b.path, chownOk);
    const st = await lstat(dest).catch(() => undefined);
    if (st?.isDirectory()) throw badRequest(`${b.path} is a directory in the image tree`);
    if (st) await rm(dest);
    if (b.type === 'file') {
      await writeFile(dest, b.content, { mode: b.mode });
      await chmod(dest, b.mode);
    } else {
      await symlink(b.target, dest);
    }
    if (chownOk) await lchown(dest, 0, 0);
  }
  for (const p of guestPatches()) {
    const dest = await safeParent(root, p.path, chownOk);
    const st = await lstat(dest).catch(() => undefined);
    const content = p.patch(st?.isFile() ? await readFile(dest, 'utf8') : undefined);
    if (content === undefined) continue;
    if (st) await rm(dest);
    await writeFile(dest, content, { mode: 0o644 });
    await chmod(dest, 0o644);
    if (chownOk) await lchown(dest, 0, 0);
  }
  for (const path of GUEST_ABSENT) {
    const dest = await safeParent(root, path, chownOk);
    const st = await lstat(dest).catch(() => undefined);
    if (st?.isDirectory()) throw badRequest(`${path} is a directory in the image tree`);
    if (st) await rm(dest);
  }
  const sshDir = join(root, SSH_DIR);
  const names = await readdir(sshDir).catch(() => [] as string[]);
  for (const n of names.filter(isImageHostKey)) await rm(join(sshDir, n), { force: true });
}
