/**
 * Unpacking a catalog bundle (a zstd-compressed tar) whose sha256 was already checked: only the
 * regular files and directories its kind may hold, at their expected places. An absolute path, a `..`
 * step, a link, a device or an unexpected name fails the whole unpack (the caller removes the staging
 * directory); owners and modes from the archive are not kept.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { BangerError, operationFailed, unavailable } from '../../../api/errors.js';
import { spawnPiped, ToolMissingError } from '../../../system/exec.js';

export interface BundleLayout {
  /** Regular files the bundle may hold at its root. */
  files: readonly string[];
  /** Directories whose whole subtree (regular files and directories) it may hold. */
  trees?: readonly string[];
}

/** Unpacks `file` into `out`; returns the root names it held. */
export async function extractBundle(file: string, out: string, layout: BundleLayout, what: string, signal: AbortSignal): Promise<Set<string>> {
  let child;
  try {
    child = spawnPiped(['zstd', '-d', '-c', '-q', '--', file]);
  } catch (err) {
    if (err instanceof ToolMissingError) throw unavailable(`zstd is needed to unpack ${what}`, 'apt-get install zstd');
    throw err;
  }
  child.stdin.end();
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const onAbort = () => child.kill('SIGKILL');
  signal.addEventListener('abort', onAbort, { once: true });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else reject(operationFailed(`${what} is not a valid zstd stream: ${stderr.trim() || `zstd ended with ${sig ?? code}`}`));
    });
  });
  exited.catch(() => undefined);

  const roots = new Set<string>();
  const holds = [...layout.files, ...(layout.trees ?? []).map((t) => `${t}/`)].join(', ');
  const extract = tar.extract();
  // A tar that fails (it ends before a file's claimed size, say) fails the file being written too, even one
  // whose stream the reader ended before the write began: such a stream never ends, and waiting would hang.
  const failed = new Promise<never>((_, reject) => extract.on('error', reject));
  failed.catch(() => undefined);
  const bad = (name: string, why: string) => operationFailed(`${what}: entry ${JSON.stringify(name)} ${why}`, `a bundle holds only ${holds}`);
  // The entry being handled: an unpack that fails returns only once it has settled, so nothing is written after.
  let handling: Promise<void> = Promise.resolve();
  extract.on('entry', (header, stream, next) => {
    // The tar's own failure is reported once, by the extract; the entry's copy of it must not go unheard.
    stream.on('error', () => undefined);
    const run = async (): Promise<void> => {
      const raw = header.name;
      if (!Number.isSafeInteger(header.size ?? 0) || (header.size ?? 0) < 0) throw bad(raw, `has no valid size in its header (${String(header.size)})`);
      const name = raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      if (name === '' || name === '.') return;
      const parts = name.split('/');
      if (raw.startsWith('/') || parts.includes('..') || parts.includes('')) throw bad(raw, 'leaves the bundle (absolute path or ..)');
      const top = parts[0]!;
      const inTree = (layout.trees ?? []).includes(top);
      if (header.type === 'directory') {
        if (!inTree) throw bad(raw, 'is an unexpected directory');
        await mkdir(join(out, name), { recursive: true, mode: 0o755 });
      } else if (header.type === 'file' || header.type === 'contiguous-file') {
        if (!inTree && !(parts.length === 1 && layout.files.includes(name))) throw bad(raw, 'is not a file a bundle holds');
        await mkdir(dirname(join(out, name)), { recursive: true, mode: 0o755 });
        const file = createWriteStream(join(out, name), { flags: 'wx', mode: 0o644 });
        const written = pipeline(stream, file);
        written.catch(() => undefined);
        try {
          await Promise.race([written, failed]);
        } catch (err) {
          file.destroy();
          throw err;
        }
      } else {
        throw bad(raw, `is a ${header.type ?? 'special entry'}; bundles hold only regular files and directories`);
      }
      roots.add(top);
    };
    handling = run().then(
      () => {
        stream.resume();
        next();
      },
      (err: unknown) => {
        stream.resume();
        next(err);
      },
    );
  });
  try {
    await pipeline(child.stdout, extract, { signal });
  } catch (err) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    await handling;
    if (err instanceof BangerError || (err as Error).name === 'AbortError') throw err;
    throw operationFailed(`${what} is not a valid tar: ${(err as Error).message}`, 'the catalog entry is broken; tell whoever publishes the catalog', err);
  }
  await exited;
  return roots;
}
