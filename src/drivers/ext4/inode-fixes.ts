/**
 * Setting owners, modes and xattrs inside an ext4 image after `mkfs.ext4 -d`, and adding FIFOs: the
 * part of a root filesystem a tree on the host cannot carry when banger does not run as root. One
 * debugfs batch, no mount.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { debugfsWrite } from './debugfs.js';

export interface InodeFix {
  /** Absolute path inside the image. */
  path: string;
  uid: number;
  gid: number;
  /** Full mode with the file type bits (0o100644, 0o40755, ...); omitted for symlinks. */
  mode?: number;
  /** Replaced by a FIFO (debugfs rm + mknod) before the other fields are set. */
  fifo?: boolean;
  xattrs?: { name: string; value: Buffer }[];
}

/** Returns why a path or name cannot go on a debugfs command line, or undefined. */
export function batchProblem(s: string): string | undefined {
  if (/[\n\r\0]/.test(s)) return 'it contains a newline or NUL';
  if (s.length > 4096) return 'it is longer than 4096 characters';
  return undefined;
}

/** Double-quotes an argument for a debugfs batch line (a quote inside is doubled). */
export function batchQuote(s: string): string {
  const problem = batchProblem(s);
  if (problem) throw new TypeError(`cannot pass ${JSON.stringify(s)} to debugfs: ${problem}`);
  return `"${s.replace(/"/g, '""')}"`;
}

function parentAndName(path: string): [string, string] {
  const i = path.lastIndexOf('/');
  return [i <= 0 ? '/' : path.slice(0, i), path.slice(i + 1)];
}

/** Applies the fixes in one debugfs run; any debugfs complaint fails the whole batch. */
export async function applyInodeFixes(image: string, fixes: readonly InodeFix[], scratchDir: string, signal?: AbortSignal): Promise<void> {
  if (fixes.length === 0) return;
  const cmds: string[] = [];
  const valuesDir = await mkdtemp(join(scratchDir, 'xattr-'));
  try {
    let n = 0;
    for (const f of fixes) {
      const p = batchQuote(f.path);
      if (f.fifo) {
        const [dir, name] = parentAndName(f.path);
        cmds.push(`cd ${batchQuote(dir)}`, `rm ${batchQuote(name)}`, `mknod ${batchQuote(name)} p`, 'cd /');
      }
      cmds.push(`sif ${p} uid ${f.uid}`, `sif ${p} gid ${f.gid}`);
      if (f.mode !== undefined) cmds.push(`sif ${p} mode 0${f.mode.toString(8)}`);
      for (const x of f.xattrs ?? []) {
        const file = join(valuesDir, String(n++));
        await writeFile(file, x.value, { mode: 0o600 });
        cmds.push(`ea_set -f ${batchQuote(file)} ${p} ${batchQuote(x.name)}`);
      }
    }
    await debugfsWrite(image, cmds, signal);
  } finally {
    await rm(valuesDir, { recursive: true, force: true });
  }
}
