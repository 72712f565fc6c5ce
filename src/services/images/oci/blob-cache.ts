/**
 * The OCI blob cache: verified blobs by digest (blobs/sha256/<hex>), shared by every pull. A download
 * is written to partial/<hex>, hashed while it streams and renamed into place only when its digest
 * matches; an interrupted download resumes from where it stopped (HTTP Range). Concurrent requests
 * for one blob share one download. A reader can consume a blob while it downloads (`read`): it follows
 * the partial file as it grows, and its stream ends only once the digest has matched.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { operationFailed } from '../../../api/errors.js';
import type { Descriptor } from './media-types.js';
import type { RegistryClient } from './registry.js';

export type BytesListener = (done: number, total: number) => void;

interface Inflight {
  promise: Promise<string>;
  listeners: Set<BytesListener>;
  /** Bytes at the start of the partial file that readers may take (set once the file is opened). */
  written: number;
  /** The whole blob is in the partial file (or already renamed into place) and matched its digest. */
  verified: boolean;
  failed?: Error;
  /** Settles once the partial file is open for writing (rejects when the download fails before). */
  opened: Promise<void>;
  /** Readers waiting for more bytes, the verdict or a failure. */
  waiters: Set<() => void>;
}

const READ_CHUNK = 1 << 20;

/** The download's failure, read afresh (it changes while a reader waits). */
function failureOf(e: Inflight): Error | undefined {
  return e.failed;
}

export interface PruneResult {
  blobs: number;
  bytes: number;
  dryRun: boolean;
}

function hexOf(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw operationFailed(`unsupported digest ${JSON.stringify(digest)}`);
  return m[1]!;
}

async function hashPrefix(path: string, h: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

export class BlobCache {
  private readonly inflight = new Map<string, Inflight>();

  constructor(readonly dir: string) {}

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', hexOf(digest));
  }

  private partialPath(digest: string): string {
    return join(this.dir, 'partial', hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    return (await stat(this.blobPath(digest)).catch(() => undefined))?.isFile() ?? false;
  }

  /** The verified blob's path, downloading it first when it is not cached. */
  async fetch(client: RegistryClient, desc: Descriptor, onBytes?: BytesListener): Promise<string> {
    const path = this.blobPath(desc.digest);
    const st = await stat(path).catch(() => undefined);
    if (st?.isFile() && st.size === desc.size) {
      onBytes?.(desc.size, desc.size);
      return path;
    }
    const entry = this.start(client, desc);
    if (onBytes) entry.listeners.add(onBytes);
    try {
      return await entry.promise;
    } finally {
      if (onBytes) entry.listeners.delete(onBytes);
    }
  }

  /** Starts the blob's download, or joins the one under way. */
  private start(client: RegistryClient, desc: Descriptor): Inflight {
    const running = this.inflight.get(desc.digest);
    if (running) return running;
    let markOpened!: () => void;
    const entry: Inflight = {
      promise: Promise.resolve(''),
      listeners: new Set(),
      written: 0,
      verified: false,
      opened: new Promise<void>((resolve) => (markOpened = resolve)),
      waiters: new Set(),
    };
    const wake = () => {
      const ws = [...entry.waiters];
      entry.waiters.clear();
      for (const w of ws) w();
    };
    entry.promise = this.download(client, desc, entry, markOpened, wake)
      .catch((err: unknown) => {
        entry.failed = err instanceof Error ? err : new Error(String(err));
        throw err;
      })
      .finally(() => {
        this.inflight.delete(desc.digest);
        markOpened();
        wake();
      });
    // Readers and fetch() observe the outcome; this keeps an unobserved failure from being unhandled.
    entry.promise.catch(() => undefined);
    this.inflight.set(desc.digest, entry);
    return entry;
  }

  /** Starts downloading the blob in the background when it is not cached (a failure is seen by whoever reads it). */
  prefetch(client: RegistryClient, desc: Descriptor): void {
    void this.has(desc.digest).then((cached) => {
      if (!cached) this.start(client, desc);
    });
  }

  /**
   * The blob's bytes: from the cache, or read while it downloads (starting or joining the download).
   * The stream fails when the download fails or the blob does not match its digest, and ends only
   * after the digest matched. `onBytes` reports the download's progress.
   */
  read(client: RegistryClient, desc: Descriptor, onBytes?: BytesListener, signal?: AbortSignal): Readable {
    return Readable.from(this.follow(client, desc, onBytes, signal), { objectMode: false });
  }

  private async *follow(client: RegistryClient, desc: Descriptor, onBytes: BytesListener | undefined, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
    const path = this.blobPath(desc.digest);
    let entry = this.inflight.get(desc.digest);
    const joined = entry !== undefined;
    if (!entry) {
      const st = await stat(path).catch(() => undefined);
      if (st?.isFile() && st.size === desc.size) {
        onBytes?.(desc.size, desc.size);
        for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK, ...(signal ? { signal } : {}) })) yield chunk as Buffer;
        return;
      }
      entry = this.start(client, desc);
    }
    const e = entry;
    if (onBytes) e.listeners.add(onBytes);
    // A download already under way: say how far it got.
    if (joined) onBytes?.(e.written, desc.size);
    let fh: FileHandle | undefined;
    try {
      await e.opened;
      const early = failureOf(e);
      if (early) throw early;
      fh = await open(this.partialPath(desc.digest), 'r').catch(async (err: unknown) => {
        // The download finished and its file was renamed into place before this reader opened it.
        if ((err as { code?: string }).code !== 'ENOENT') throw err;
        return open(await e.promise, 'r');
      });
      let pos = 0;
      for (;;) {
        if (signal?.aborted) throw Object.assign(new Error('operation cancelled'), { name: 'AbortError' });
        if (pos < e.written) {
          const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, e.written - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) throw operationFailed(`blob ${desc.digest} is shorter on disk than downloaded`);
          pos += bytesRead;
          yield buf.subarray(0, bytesRead);
          continue;
        }
        const failed = failureOf(e);
        if (failed) throw failed;
        if (e.verified) {
          onBytes?.(desc.size, desc.size);
          return;
        }
        await new Promise<void>((resolve) => {
          const done = () => {
            signal?.removeEventListener('abort', done);
            resolve();
          };
          e.waiters.add(done);
          signal?.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      if (onBytes) e.listeners.delete(onBytes);
      await fh?.close();
    }
  }

  /** Digests being downloaded right now (prune leaves them alone). */
  busy(): string[] {
    return [...this.inflight.keys()];
  }

  private async download(client: RegistryClient, desc: Descriptor, entry: Inflight, opened: () => void, wake: () => void): Promise<string> {
    const onBytes: BytesListener = (d, t) => entry.listeners.forEach((l) => l(d, t));
    const dest = this.blobPath(desc.digest);
    const partial = this.partialPath(desc.digest);
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.dir, 'partial'), { recursive: true, mode: 0o700 });
    let offset = (await stat(partial).catch(() => undefined))?.size ?? 0;
    if (offset > desc.size) {
      await truncate(partial, 0);
      offset = 0;
    }
    let h = createHash('sha256');
    if (offset > 0) await hashPrefix(partial, h);
    const res = await client.getBlob(desc.digest, offset === desc.size ? 0 : offset);
    if (offset > 0 && (res.status !== 206 || offset === desc.size)) {
      // The registry sends the whole blob (or we had it all but unverified): start over.
      offset = 0;
      h = createHash('sha256');
    }
    const fh = await open(partial, offset > 0 ? 'a' : 'w', 0o600);
    entry.written = offset;
    opened();
    let done = offset;
    // A download cut short keeps its bytes for the next attempt to resume from; a wrong blob does not.
    let keepPartial = false;
    try {
      onBytes(done, desc.size);
      if (res.body) {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          done += chunk.length;
          if (done > desc.size) {
            throw operationFailed(`blob ${desc.digest} is larger than the ${desc.size} bytes its manifest says`, 'the registry serves a different blob than the manifest names');
          }
          h.update(chunk);
          await fh.write(chunk);
          entry.written = done;
          wake();
          onBytes(done, desc.size);
        }
      }
      if (done < desc.size) {
        keepPartial = true;
        throw operationFailed(`blob ${desc.digest} ended after ${done} of ${desc.size} bytes`, 'the download was cut short; pull again to resume it');
      }
      const got = `sha256:${h.digest('hex')}`;
      if (got !== desc.digest) {
        throw operationFailed(`blob ${desc.digest} does not match its digest (got ${got})`, 'the registry or something between us altered it; the download was discarded, pull again');
      }
      // Readers have every byte and the verdict; the file is made durable and moved into the cache after.
      entry.verified = true;
      wake();
      await fh.sync();
    } catch (err) {
      await fh.close();
      if ((err as { code?: string }).code === 'operation_failed' && !keepPartial) await rm(partial, { force: true });
      throw err;
    }
    await fh.close();
    await rename(partial, dest);
    return dest;
  }

  /** Removes every cached blob and partial download not in use; returns what was (or would be) freed. */
  async prune(dryRun: boolean): Promise<PruneResult> {
    const busy = new Set(this.busy().map(hexOf));
    let blobs = 0;
    let bytes = 0;
    for (const sub of [join('blobs', 'sha256'), 'partial']) {
      const dir = join(this.dir, sub);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (busy.has(name)) continue;
        const st = await stat(join(dir, name)).catch(() => undefined);
        if (!st?.isFile()) continue;
        blobs += 1;
        bytes += st.size;
        if (!dryRun) await rm(join(dir, name), { force: true });
      }
    }
    return { blobs, bytes, dryRun };
  }
}
