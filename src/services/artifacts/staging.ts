/** Staging directories: everything is built in one, then published by rename; failures remove it. */
import { mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { run } from '../../system/exec.js';
import { operationFailed } from '../../api/errors.js';

export async function makeStaging(stagingRoot: string, prefix: string): Promise<string> {
  await mkdir(stagingRoot, { recursive: true, mode: 0o700 });
  return mkdtemp(join(stagingRoot, `${prefix}-`));
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below dir (deepest first). */
export async function mountsUnder(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const base = await realpath(dir).catch(() => dir);
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescapeMount(mp);
    if (p === base || p.startsWith(base + sep)) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Removes a staging tree. Anything still mounted inside it (a build tool killed mid-way can leave
 * /proc or /dev bind mounts behind) is unmounted first; if that fails nothing is deleted.
 */
export async function removeTree(dir: string): Promise<void> {
  if (!(await stat(dir).catch(() => undefined))) return;
  let mounts = await mountsUnder(dir);
  for (const mp of mounts) {
    await run(['umount', '-l', mp]).catch(() => undefined);
  }
  mounts = await mountsUnder(dir);
  if (mounts.length > 0) {
    throw operationFailed(`${dir} still has mounts (${mounts.join(', ')}); not removing it`, `unmount them, then remove ${dir}`);
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Moves a finished directory into place; the destination must not exist. */
export async function publishDir(from: string, to: string): Promise<void> {
  if (await stat(to).catch(() => undefined)) throw operationFailed(`${to} already exists; not replacing it`);
  await mkdir(dirname(to), { recursive: true, mode: 0o700 });
  await rename(from, to);
}

/**
 * Removes what interrupted operations left in the staging root (a crash mid-build). Call it when no
 * operation is running, e.g. at daemon start. Returns the entries removed.
 */
export async function clearStaging(stagingRoot: string): Promise<string[]> {
  const names = await readdir(stagingRoot).catch(() => [] as string[]);
  for (const n of names) await removeTree(join(stagingRoot, n));
  return names;
}
