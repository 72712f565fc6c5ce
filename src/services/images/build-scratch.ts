/**
 * Where mmdebstrap --mode=unshare builds its chroot when banger does not run as root. Inside the user
 * namespace the chroot's root is one of the user's subordinate ids, which is "others" to every
 * directory on the host: every directory above the chroot must be searchable by others (o+x). The
 * staging root usually sits under a private home (0700), so the chroot goes to a scratch directory
 * (0711) under the first of $TMPDIR, /var/tmp and /tmp that qualifies. Files the subordinate root
 * leaves there belong to ids the user cannot delete as itself; they are removed from inside a user
 * namespace that maps those ids (unshare --map-root-user --map-auto).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, lstat, mkdtemp, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { unavailable } from '../../api/errors.js';
import { run } from '../../system/exec.js';
import { removeTree } from '../artifacts/staging.js';

/** The bases tried in order. */
export function scratchBases(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const d of [env.TMPDIR, '/var/tmp', '/tmp']) if (d && d.startsWith('/') && !out.includes(d)) out.push(d);
  return out;
}

/** Scratch directories of one state directory's builds, by one user: removable at daemon start. */
export function scratchPrefix(stagingRoot: string, uid = process.getuid?.() ?? 0): string {
  return `banger-build-${uid}-${createHash('sha256').update(stagingRoot).digest('hex').slice(0, 8)}-`;
}

/** Why a subordinate root could not build a chroot under `base`, or undefined when it can. */
export async function scratchProblem(base: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(base);
    if (!(await stat(real)).isDirectory()) return `${base} is not a directory`;
    await access(real, constants.W_OK | constants.X_OK);
  } catch (err) {
    return `${base}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  for (let d = real; ; d = dirname(d)) {
    const st = await stat(d);
    if ((st.mode & 0o001) === 0) return `${d} is not searchable by others (mode ${(st.mode & 0o7777).toString(8)})`;
    if (d === '/') return undefined;
  }
}

/** Makes a scratch directory (0711) for mmdebstrap's chroot; refuses with every reason when no base qualifies. */
export async function makeBuildScratch(stagingRoot: string, bases = scratchBases()): Promise<string> {
  const reasons: string[] = [];
  for (const base of bases) {
    const problem = await scratchProblem(base);
    if (problem) {
      reasons.push(problem);
      continue;
    }
    const dir = await mkdtemp(join(base, scratchPrefix(stagingRoot)));
    await chmod(dir, 0o711);
    return dir;
  }
  throw unavailable(
    `no place for mmdebstrap's temporary chroot: the build's subordinate root must be able to reach it (${reasons.join('; ')})`,
    'set TMPDIR for bangerd to a directory you can write whose parents are all searchable by others (chmod o+x), e.g. /var/tmp',
  );
}

/** Removes a scratch directory, with what a subordinate id owns in it. */
export async function removeBuildScratch(dir: string): Promise<void> {
  try {
    await removeTree(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code !== 'EACCES' && code !== 'EPERM') || process.getuid?.() === 0) throw err;
  }
  await run(['unshare', '--map-root-user', '--map-auto', 'rm', '-rf', '--', dir]);
}

/** Removes the scratch directories that interrupted builds of this state directory left behind. */
export async function clearBuildScratch(stagingRoot: string, bases = scratchBases()): Promise<string[]> {
  const prefix = scratchPrefix(stagingRoot);
  const uid = process.getuid?.() ?? 0;
  const removed: string[] = [];
  for (const base of bases) {
    for (const name of await readdir(base).catch(() => [] as string[])) {
      if (!name.startsWith(prefix)) continue;
      const dir = join(base, name);
      const st = await lstat(dir).catch(() => undefined);
      if (!st?.isDirectory() || st.uid !== uid) continue;
      await removeBuildScratch(dir);
      removed.push(dir);
    }
  }
  return removed;
}
