/**
 * A recipe's early files as a tar that mmdebstrap unpacks into the tree before installing packages:
 * root-owned regular files with the recipe's modes. There are no directory entries, so directories
 * that exist keep their owners and modes and missing ones are made root-owned 0755.
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { RecipeFile } from './recipes.js';

export async function writeEarlyTar(file: string, files: readonly RecipeFile[]): Promise<void> {
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(file, { mode: 0o600, flags: 'wx' }));
  for (const f of files) {
    const body = Buffer.from(f.content, 'utf8');
    pack.entry({ name: `.${f.path}`, type: 'file', mode: parseInt(f.mode, 8), uid: 0, gid: 0, uname: 'root', gname: 'root', size: body.length, mtime: new Date() }, body);
  }
  pack.finalize();
  await written;
}
