/**
 * Downloading what a catalog entry names: streamed to a file while its size is counted and its sha256
 * computed, refused the moment it grows past the size the catalog gives, and removed unless it is
 * complete and matches.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BangerError, notFound, operationFailed, unavailable } from '../../../api/errors.js';
import type { OpContext } from '../../op-context.js';
import type { DownloadSource } from './catalog.js';

const CONNECT_TIMEOUT_MS = 30_000;

/** Downloads `src.url` to `dest` (a file that must not exist) and checks it against `src.size` and `src.sha256`. */
export async function downloadVerified(src: DownloadSource, dest: string, what: string, ctx: OpContext): Promise<void> {
  const stale = 'the catalog entry may be out of date: update banger, or point the catalog URL setting at a current catalog';
  let res: Response;
  const connect = AbortSignal.timeout(CONNECT_TIMEOUT_MS);
  try {
    res = await fetch(src.url, { signal: AbortSignal.any([ctx.signal, connect]), redirect: 'follow' });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    throw unavailable(`cannot download ${what} from ${src.url}: ${(err as Error).cause ? String((err as Error).cause) : (err as Error).message}`, 'check the network and the URL');
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    if (res.status === 404 || res.status === 410) throw notFound(`${src.url} answered HTTP ${res.status} for ${what}`, stale);
    throw unavailable(`${src.url} answered HTTP ${res.status} for ${what}`, 'the server failed; try again later');
  }
  const announced = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(announced) && res.headers.get('content-encoding') === null && announced !== src.size) {
    await res.body.cancel();
    throw operationFailed(`${src.url} is ${announced} bytes, the catalog says ${src.size}`, stale);
  }
  const hash = createHash('sha256');
  let done = 0;
  let last = -1;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      if (done > src.size) {
        cb(operationFailed(`${src.url} sent more than the ${src.size} bytes the catalog gives for ${what}`, stale));
        return;
      }
      hash.update(chunk);
      if (done === src.size || done - last >= 1024 * 1024) {
        last = done;
        ctx.progress(done, src.size, 'bytes');
      }
      cb(null, chunk);
    },
  });
  try {
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), count, createWriteStream(dest, { flags: 'wx', mode: 0o600 }), { signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted || err instanceof BangerError) throw err;
      throw unavailable(`the download of ${what} from ${src.url} broke off after ${done} of ${src.size} bytes: ${(err as Error).message}`, 'try again');
    }
    if (done !== src.size) throw operationFailed(`the download of ${what} from ${src.url} is truncated: ${done} of ${src.size} bytes`, 'try again; if it persists, ' + stale);
    const got = hash.digest('hex');
    if (got !== src.sha256) throw operationFailed(`${what} from ${src.url} has sha256 ${got}, the catalog says ${src.sha256}`, `the file on the server is not the one the catalog names; ${stale}`);
  } catch (err) {
    await rm(dest, { force: true });
    throw err;
  }
}
