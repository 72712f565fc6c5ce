/** Writing files, directories and symlinks into ext4 images with debugfs batches (no mount). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { badRequest } from '../../api/errors.js';
import { debugfsWrite, listDirs, type DirEntry } from './debugfs.js';
import { ancestorsOf, baseName, checkGuestPath, depthOf, parentOf, quote, quoteTarget } from './guest-path.js';

interface Owned {
  path: string;
  uid?: number;
  gid?: number;
}

export type Ext4Entry =
  | (Owned & { type: 'dir'; mode?: number })
  | (Owned & { type: 'file'; content: string | Buffer; mode?: number })
  | (Owned & { type: 'symlink'; target: string });

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

function octal(n: number): string {
  return `0${n.toString(8)}`;
}

function checkId(id: number | undefined, what: string): number {
  const v = id ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw badRequest(`invalid ${what} ${String(id)}`);
  return v;
}

function checkMode(mode: number): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw badRequest(`invalid mode ${mode}`);
  return mode;
}

function ownership(path: string, uid: number, gid: number): string[] {
  return [`set_inode_field ${quote(path)} uid ${uid}`, `set_inode_field ${quote(path)} gid ${gid}`];
}

/** What exists now at each path an operation touches: undefined = absent. */
async function survey(image: string, paths: readonly string[]): Promise<Map<string, DirEntry | undefined>> {
  const dirs = new Set<string>(['/']);
  for (const p of paths) {
    for (const a of ancestorsOf(p)) dirs.add(a);
    dirs.add(parentOf(p));
  }
  const listing = await listDirs(image, [...dirs]);
  const state = new Map<string, DirEntry | undefined>();
  for (const [dir, entries] of listing) {
    for (const e of entries ?? []) state.set(dir === '/' ? `/${e.name}` : `${dir}/${e.name}`, e);
  }
  return state;
}

/**
 * Writes entries into an image: missing parent directories are created (root-owned 0755) shallow
 * first, existing files and symlinks are replaced, existing directories get their mode and owner set.
 * A path whose parent is a symlink or a non-directory is refused.
 */
export async function writeFiles(image: string, entries: readonly Ext4Entry[], signal?: AbortSignal): Promise<void> {
  if (entries.length === 0) return;
  for (const e of entries) {
    checkGuestPath(e.path);
    if (e.path === '/') throw badRequest('cannot replace the root directory');
  }
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.path)) throw badRequest(`${e.path} is listed twice`);
    seen.add(e.path);
  }
  const state = await survey(image, entries.map((e) => e.path));
  const tmp = await mkdtemp(join(tmpdir(), 'banger-ext4-'));
  try {
    const cmds: string[] = [];
    const created = new Set<string>();
    const ensureDir = (dir: string) => {
      if (dir === '/' || created.has(dir)) return;
      const cur = state.get(dir);
      if (cur && cur.type === 'dir') return;
      if (cur) throw badRequest(`${dir} in ${image} is a ${cur.type}, not a directory`);
      if (!entries.some((e) => e.path === dir && e.type === 'dir')) {
        cmds.push(`mkdir ${quote(dir)}`, `set_inode_field ${quote(dir)} mode ${octal(S_IFDIR | 0o755)}`, ...ownership(dir, 0, 0));
        created.add(dir);
      }
    };
    const sorted = [...entries].sort((a, b) => depthOf(a.path) - depthOf(b.path));
    let n = 0;
    for (const e of sorted) {
      for (const a of ancestorsOf(e.path)) ensureDir(a);
      const uid = checkId(e.uid, 'uid');
      const gid = checkId(e.gid, 'gid');
      const cur = state.get(e.path);
      const p = quote(e.path);
      if (e.type === 'dir') {
        if (cur && cur.type !== 'dir') throw badRequest(`${e.path} in ${image} is a ${cur.type}, not a directory`);
        if (!cur && !created.has(e.path)) cmds.push(`mkdir ${p}`);
        created.add(e.path);
        cmds.push(`set_inode_field ${p} mode ${octal(S_IFDIR | checkMode(e.mode ?? 0o755))}`, ...ownership(e.path, uid, gid));
        continue;
      }
      if (cur?.type === 'dir') throw badRequest(`${e.path} in ${image} is a directory; refusing to replace it`);
      if (cur) cmds.push(`rm ${p}`);
      if (e.type === 'file') {
        const host = join(tmp, `f${n++}`);
        await writeFile(host, e.content, { mode: 0o600 });
        cmds.push(`cd ${quote(parentOf(e.path))}`, `write "${host}" "${baseName(e.path)}"`, 'cd /');
        cmds.push(`set_inode_field ${p} mode ${octal(S_IFREG | checkMode(e.mode ?? 0o644))}`, ...ownership(e.path, uid, gid));
      } else {
        cmds.push(`symlink ${p} ${quoteTarget(e.target)}`, ...ownership(e.path, uid, gid));
      }
    }
    await debugfsWrite(image, cmds, signal);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Removes files and symlinks; paths that do not exist are ignored, directories are refused. */
export async function removeFiles(image: string, paths: readonly string[], signal?: AbortSignal): Promise<string[]> {
  for (const p of paths) checkGuestPath(p);
  const state = await survey(image, paths);
  const cmds: string[] = [];
  const removed: string[] = [];
  for (const p of paths) {
    const cur = state.get(p);
    if (!cur) continue;
    if (cur.type === 'dir') throw badRequest(`${p} in ${image} is a directory; refusing to remove it`);
    cmds.push(`rm ${quote(p)}`);
    removed.push(p);
  }
  if (cmds.length > 0) await debugfsWrite(image, cmds, signal);
  return removed;
}
