/**
 * The OCI blob cache: verified blobs by digest (blobs/sha256/<hex>), shared by every pull. A download
 * is written to partial/<hex>, hashed while it streams and renamed into place only when its digest
 * matches; an interrupted download resumes from where it stopped (HTTP Range). Concurrent requests
 * for one blob share one download.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { operationFailed } from '../../../api/errors.js';
import type { Descriptor } from './media-types.js';
import type { RegistryClient } from './registry.js';

export type BytesListener = (done: number, total: number) => void;

interface Inflight {
  promise: Promise<string>;
  listeners: Set<BytesListener>;
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
    let entry = this.inflight.get(desc.digest);
    if (!entry) {
      const listeners = new Set<BytesListener>();
      const promise = this.download(client, desc, (d, t) => listeners.forEach((l) => l(d, t))).finally(() => this.inflight.delete(desc.digest));
      entry = { promise, listeners };
      this.inflight.set(desc.digest, entry);
    }
    if (onBytes) entry.listeners.add(onBytes);
    try {
      return await entry.promise;
    } finally {
      if (onBytes) entry.listeners.delete(onBytes);
    }
  }

  /** Digests being downloaded right now (prune leaves them alone). */
  busy(): string[] {
    return [...this.inflight.keys()];
  }

  private async download(client: RegistryClient, desc: Descriptor, onBytes: BytesListener): Promise<string> {
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
    let done = offset;
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
          onBytes(done, desc.size);
        }
      }
      await fh.sync();
    } catch (err) {
      await fh.close();
      if ((err as { code?: string }).code === 'operation_failed') await rm(partial, { force: true });
      throw err;
    }
    await fh.close();
    if (done < desc.size) {
      throw operationFailed(`blob ${desc.digest} ended after ${done} of ${desc.size} bytes`, 'the download was cut short; pull again to resume it');
    }
    const got = `sha256:${h.digest('hex')}`;
    if (got !== desc.digest) {
      await rm(partial, { force: true });
      throw operationFailed(`blob ${desc.digest} does not match its digest (got ${got})`, 'the registry or something between us altered it; the download was discarded, pull again');
    }
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
