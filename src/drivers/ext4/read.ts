/** Reading from ext4 images without mounting them. */
import { mkdtemp, readFile as readHostFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notFound, operationFailed } from '../../api/errors.js';
import { debugfsRequest, listDirs, type DirEntry, type EntryType } from './debugfs.js';
import { checkGuestPath, quote, parentOf, baseName } from './guest-path.js';

export interface GuestStat {
  /** Permission bits, including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  type: EntryType;
  size: number;
}

/** Describes a path, or returns undefined when it does not exist (the last component is not followed). */
export async function stat(image: string, path: string): Promise<GuestStat | undefined> {
  checkGuestPath(path);
  if (path === '/') {
    const r = await debugfsRequest(image, 'stat <2>');
    if (r.errors.length > 0) throw operationFailed(`cannot read the root directory of ${image}: ${r.errors.join('; ')}`);
    const owner = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(r.stdout);
    const mode = /Mode:\s+([0-7]+)/.exec(r.stdout);
    return { type: 'dir', mode: mode ? parseInt(mode[1]!, 8) : 0o755, uid: Number(owner?.[1] ?? 0), gid: Number(owner?.[2] ?? 0), size: 0 };
  }
  const entry = await lookup(image, path);
  if (!entry) return undefined;
  return { mode: entry.mode, uid: entry.uid, gid: entry.gid, type: entry.type, size: entry.size };
}

async function lookup(image: string, path: string): Promise<DirEntry | undefined> {
  const parent = parentOf(path);
  const entries = (await listDirs(image, [parent])).get(parent);
  return entries?.find((e) => e.name === baseName(path));
}

export async function exists(image: string, path: string): Promise<boolean> {
  return (await stat(image, path)) !== undefined;
}

/** Lists a directory; undefined when it does not exist or is not a directory. */
export async function listDir(image: string, path: string): Promise<DirEntry[] | undefined> {
  checkGuestPath(path);
  return (await listDirs(image, [path])).get(path);
}

/** Reads a regular file (binary safe: dumped through a private temp file). */
export async function readFile(image: string, path: string): Promise<Buffer> {
  const st = await stat(image, path);
  if (!st) throw notFound(`${path} does not exist in ${image}`);
  if (st.type !== 'file') throw operationFailed(`${path} in ${image} is not a regular file (${st.type})`);
  const dir = await mkdtemp(join(tmpdir(), 'banger-ext4-'));
  try {
    const out = join(dir, 'out');
    const r = await debugfsRequest(image, `dump ${quote(path)} "${out}"`);
    if (r.errors.length > 0) throw operationFailed(`cannot read ${path} from ${image}: ${r.errors.join('; ')}`);
    return await readHostFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function readText(image: string, path: string): Promise<string> {
  return (await readFile(image, path)).toString('utf8');
}

/**
 * Copies a guest directory's contents into hostDir (created if needed), keeping modes and,
 * when running as root, ownership (otherwise the copies belong to the caller).
 */
export async function rdump(image: string, guestDir: string, hostDir: string): Promise<void> {
  const st = await stat(image, guestDir);
  if (!st) throw notFound(`${guestDir} does not exist in ${image}`);
  if (st.type !== 'dir') throw operationFailed(`${guestDir} in ${image} is not a directory`);
  if (/["\\\n]/.test(hostDir)) throw new TypeError(`host directory ${hostDir} cannot be passed to debugfs`);
  await mkdir(hostDir, { recursive: true });
  const entries = (await listDir(image, guestDir)) ?? [];
  if (entries.length === 0) return;
  // rdump copies each named entry into the destination directory.
  const names = entries.map((e) => quote(guestDir === '/' ? `/${e.name}` : `${guestDir}/${e.name}`));
  const r = await debugfsRequest(image, `rdump ${names.join(' ')} "${hostDir}"`);
  // Without root, debugfs cannot give the copies their owners; contents and modes are still copied.
  const errors = process.getuid?.() === 0 ? r.errors : r.errors.filter((e) => !/while changing ownership of /.test(e));
  if (errors.length > 0) throw operationFailed(`cannot copy ${guestDir} out of ${image}: ${errors.slice(0, 4).join('; ')}`);
}
