/** Replacing a file in one step: write a temporary beside it, then rename. */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';

/** Writes `path` by way of a temporary file in the same directory and a rename. */
export function writeFileAtomic(path: string, content: string, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, content, { mode });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The text of `path`, or undefined when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Follows a symlinked file (dotfile managers, the system install's /etc/banger/ssh_config) so the link
 * itself is kept; a link whose file does not exist yet is followed to where that file will be.
 */
async function resolveTarget(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let link: string;
  try {
    link = await readlink(path);
  } catch {
    return path;
  }
  const target = resolve(dirname(path), link);
  try {
    return join(await realpath(dirname(target)), basename(target));
  } catch {
    return target;
  }
}

/**
 * Rewrites a file that may belong to the user, atomically (temporary file + rename). A symlinked
 * path is written through, keeping the link; an existing file keeps its mode and owner; a new one is
 * `defaultMode` in a 0700 directory.
 */
export async function rewriteFileAtomic(path: string, text: string, defaultMode = 0o600): Promise<void> {
  const target = await resolveTarget(path);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let mode = defaultMode;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = await stat(target);
    mode = st.mode & 0o777;
    owner = { uid: st.uid, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await chmod(tmp, mode);
    if (owner && process.getuid?.() === 0 && (owner.uid !== 0 || owner.gid !== 0)) {
      await chown(tmp, owner.uid, owner.gid);
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
