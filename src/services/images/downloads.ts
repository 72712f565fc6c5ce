/** A recipe's pinned downloads: fetched at build time, checked against their sha256, one member installed into the tree. */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { join } from 'node:path';
import { BangerError, operationFailed } from '../../api/errors.js';
import { run } from '../../system/exec.js';
import type { OpContext } from '../op-context.js';
import type { RecipeDownload } from './recipes.js';

/** Fetches url to file, returning the sha256 of what arrived. */
async function fetchTo(url: string, file: string, ctx: OpContext): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { 'user-agent': 'banger' }, signal: ctx.signal });
  } catch (err) {
    throw new BangerError('operation_failed', `could not fetch ${url}: ${(err as Error).message}`, {
      hint: 'the image build needs to reach this address; check the network or the recipe',
      cause: err,
    });
  }
  if (!res.ok || !res.body) throw operationFailed(`fetching ${url} answered HTTP ${res.status}`, 'check the recipe\'s url');
  const total = Number(res.headers.get('content-length')) || undefined;
  const hash = createHash('sha256');
  let done = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      done += chunk.length;
      ctx.progress(done, total, 'bytes');
      cb(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), counter, createWriteStream(file, { mode: 0o600 }), { signal: ctx.signal });
  return hash.digest('hex');
}

/** Installs each download's member into the tree; nothing of a download whose sha256 differs is used. */
export async function installDownloads(tree: string, scratch: string, downloads: readonly RecipeDownload[], ctx: OpContext): Promise<void> {
  for (const d of downloads) {
    const dir = join(scratch, `download-${d.name}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const file = join(dir, 'archive.tgz');
      ctx.log(`fetching ${d.name} from ${d.url}`);
      const got = await fetchTo(d.url, file, ctx);
      if (got !== d.sha256) {
        throw operationFailed(
          `${d.name}: ${d.url} has sha256 ${got}, the recipe pins ${d.sha256}; not installed`,
          'the file changed upstream or in transit: check the url and update the pinned sha256 only after verifying the new file',
        );
      }
      const out = join(dir, 'out');
      await mkdir(out, { mode: 0o700 });
      await run(['tar', '-xzf', file, '-C', out, '--no-same-owner', '--', d.member], { signal: ctx.signal });
      const src = join(out, d.member);
      const st = await lstat(src).catch(() => undefined);
      if (!st?.isFile()) throw operationFailed(`${d.name}: ${d.member} in ${d.url} is not a regular file`, 'check the recipe\'s member path');
      const dest = join(tree, d.dest);
      await mkdir(join(dest, '..'), { recursive: true, mode: 0o755 });
      await rm(dest, { force: true });
      await copyFile(src, dest);
      await chmod(dest, parseInt(d.mode, 8));
      if (process.getuid?.() === 0) await chown(dest, 0, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
