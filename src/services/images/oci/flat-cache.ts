/**
 * The flattened-image cache: the finished rootfs.ext4 and work seed (and a kernel taken from /boot)
 * of a pulled OCI image, keyed by the manifest digest, the importer version, the guest bits digest and
 * the requested size. Pulling the same image again (after `image delete`, or under another name)
 * copies these (reflink or sparse copy) instead of unpacking the layers again. An entry is written to
 * a temporary directory and renamed into place, so a present entry is complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { copySparse } from '../../artifacts/copy.js';
import type { ImageManifest } from '../manifest.js';

/** Bumped whenever the importer's output for the same layers changes. */
export const IMPORTER_VERSION = 2;

export interface FlatKey {
  manifestDigest: string;
  guestBits: string;
  sizeBytes?: number;
}

/** What the pull learned from the tree, kept with the files. */
export interface FlatData {
  distro: string;
  kernelVersion?: string;
  sha256: ImageManifest['sha256'];
  rootfsSizeBytes: number;
  warnings: string[];
  firstBoot?: ImageManifest['firstBoot'];
  initMissing?: boolean;
}

interface EntryRecord {
  key: FlatKey & { importer: number };
  /** File name in the entry -> its size in bytes. */
  files: Record<string, number>;
  data: FlatData;
}

export interface FlatHit {
  dir: string;
  files: string[];
  data: FlatData;
}

const RECORD = 'entry.json';

function fullKey(k: FlatKey): EntryRecord['key'] {
  return { manifestDigest: k.manifestDigest, guestBits: k.guestBits, ...(k.sizeBytes !== undefined ? { sizeBytes: k.sizeBytes } : {}), importer: IMPORTER_VERSION };
}

function entryName(k: FlatKey): string {
  return createHash('sha256').update(JSON.stringify(fullKey(k))).digest('hex');
}

export class FlatCache {
  constructor(readonly dir: string) {}

  /** A complete entry for the key whose files are all there with their recorded sizes, or undefined. */
  async lookup(k: FlatKey): Promise<FlatHit | undefined> {
    const dir = join(this.dir, entryName(k));
    let rec: EntryRecord;
    try {
      rec = JSON.parse(await readFile(join(dir, RECORD), 'utf8')) as EntryRecord;
    } catch {
      return undefined;
    }
    if (JSON.stringify(rec.key) !== JSON.stringify(fullKey(k))) return undefined;
    for (const [name, size] of Object.entries(rec.files)) {
      const st = await lstat(join(dir, name)).catch(() => undefined);
      if (!st?.isFile() || st.size !== size) {
        await rm(dir, { recursive: true, force: true });
        return undefined;
      }
    }
    return { dir, files: Object.keys(rec.files), data: rec.data };
  }

  /** Stores copies of `files` (names inside `from`) for the key, replacing an older entry. */
  async store(k: FlatKey, from: string, files: readonly string[], data: FlatData, signal?: AbortSignal): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.tmp-${randomBytes(6).toString('hex')}`);
    const dest = join(this.dir, entryName(k));
    try {
      await mkdir(tmp, { mode: 0o700 });
      const sizes: Record<string, number> = {};
      for (const f of files) {
        await copySparse(join(from, f), join(tmp, f), signal);
        sizes[f] = (await lstat(join(tmp, f))).size;
      }
      const rec: EntryRecord = { key: fullKey(k), files: sizes, data };
      await writeFile(join(tmp, RECORD), JSON.stringify(rec), { mode: 0o600 });
      await rm(dest, { recursive: true, force: true });
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Removes every entry; returns how many and the disk space they held (or would free, with dryRun). */
  async prune(dryRun: boolean): Promise<{ entries: number; bytes: number }> {
    let entries = 0;
    let bytes = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const dir = join(this.dir, name);
      entries += 1;
      for (const f of await readdir(dir).catch(() => [] as string[])) {
        const st = await lstat(join(dir, f)).catch(() => undefined);
        if (st?.isFile()) bytes += st.blocks * 512;
      }
      if (!dryRun) await rm(dir, { recursive: true, force: true });
    }
    return { entries, bytes };
  }
}
