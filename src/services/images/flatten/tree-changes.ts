/**
 * Keeping a LayerTree's metadata true while a build changes the unpacked tree on the host (guest
 * bits, recipe files, an emptied /root). A snapshot taken right after unpacking tells which entries
 * the build touched afterwards: those are root-owned with the mode they have on disk, as the
 * build's own writes are meant to be; untouched entries keep the owners and modes of the tar.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerTree, MetaType } from './layer-tree.js';

interface Seen {
  type: MetaType;
  ino: bigint;
  ctimeNs: bigint;
  mode: number;
}

export type TreeSnapshot = Map<string, Seen>;

function typeOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): MetaType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined;
}

/** Every entry below the tree's root (guest path -> what the host has there). */
export async function snapshotTree(lt: LayerTree): Promise<TreeSnapshot> {
  const out: TreeSnapshot = new Map();
  const walk = async (host: string, guest: string): Promise<void> => {
    for (const name of await readdir(host)) {
      const h = join(host, name);
      const g = guest === '/' ? `/${name}` : `${guest}/${name}`;
      const st = await lstat(h, { bigint: true });
      const type = typeOf(st);
      if (!type) continue;
      out.set(g, { type, ino: st.ino, ctimeNs: st.ctimeNs, mode: Number(st.mode & 0o7777n) });
      if (type === 'dir') await walk(h, g);
    }
  };
  await walk(lt.root, '/');
  return out;
}

/**
 * Brings lt.meta in line with the tree: entries that are new, replaced, re-typed or chmod-ed since
 * `before` become root-owned with their disk mode; entries that are gone leave meta. A directory
 * only counts as changed when it was replaced or chmod-ed (adding a file to it changes its ctime).
 * Returns how many entries changed.
 */
export async function reconcileTree(lt: LayerTree, before: TreeSnapshot): Promise<number> {
  const now = await snapshotTree(lt);
  let changed = 0;
  for (const [g, cur] of now) {
    const old = before.get(g);
    const fresh =
      !lt.meta.has(g) ||
      !old ||
      old.type !== cur.type ||
      old.ino !== cur.ino ||
      old.mode !== cur.mode ||
      (cur.type !== 'dir' && old.ctimeNs !== cur.ctimeNs);
    if (!fresh) continue;
    lt.meta.set(g, { type: cur.type, uid: 0, gid: 0, mode: cur.mode });
    // The host inode may still carry the tar's owner (set when unpacking as root): the ext4 needs a fix.
    lt.exact.delete(g);
    changed++;
  }
  for (const g of [...lt.meta.keys()]) {
    if (g !== '/' && !now.has(g)) {
      lt.meta.delete(g);
      lt.exact.delete(g);
    }
  }
  return changed;
}
