/**
 * Reading a blob while it downloads: the reader gets the bytes as they arrive, its stream ends only
 * once the digest matched, a second reader joins the same download, and a blob altered on the way
 * fails every reader and leaves neither a partial download nor a cached blob.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BlobCache } from './blob-cache.js';
import type { RegistryClient } from './registry.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-blob-cache-test-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A registry stand-in whose blob body is fed by the test, chunk by chunk. */
function feedClient(): { client: RegistryClient; gets: () => number; push: (b: Buffer) => void; end: () => void } {
  let n = 0;
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  const client = {
    getBlob: () => {
      n++;
      return Promise.resolve(new Response(body));
    },
  } as unknown as RegistryClient;
  return { client, gets: () => n, push: (b) => ctl.enqueue(new Uint8Array(b)), end: () => ctl.close() };
}

/** Collects a stream; `got` shows what has arrived so far. */
function collect(s: Readable): { got: () => number; done: Promise<Buffer> } {
  const chunks: Buffer[] = [];
  let n = 0;
  const done = new Promise<Buffer>((resolve, reject) => {
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      n += c.length;
    });
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  done.catch(() => undefined);
  return { got: () => n, done };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

test('a blob is read while it downloads, by two readers sharing one download, and ends only once its digest matched', async () => {
  const cache = new BlobCache(join(dir, 'ok'));
  const blob = randomBytes(300_000);
  const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(blob), size: blob.length };
  const feed = feedClient();
  const seen: number[] = [];
  const first = collect(cache.read(feed.client, desc, (d) => seen.push(d)));
  feed.push(blob.subarray(0, 100_000));
  await until('the first bytes reach the reader before the download ends', () => first.got() === 100_000);
  const second = collect(cache.read(feed.client, desc));
  await until('a reader joining later gets what was already downloaded', () => second.got() === 100_000);
  feed.push(blob.subarray(100_000));
  await until('every byte arrives', () => first.got() === blob.length && second.got() === blob.length);
  let ended = false;
  void first.done.then(() => (ended = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ended, false, 'the stream does not end before the download is complete and checked');
  feed.end();
  assert.ok((await first.done).equals(blob));
  assert.ok((await second.done).equals(blob));
  assert.equal(feed.gets(), 1, 'one download for both readers');
  assert.equal(seen.at(-1), blob.length, 'progress ends at the blob size');
  assert.equal(await cache.fetch(feed.client, desc), cache.blobPath(desc.digest));
  assert.equal(await cache.has(desc.digest), true);
  assert.deepEqual(readdirSync(join(dir, 'ok', 'partial')), []);
  // A cached blob is read from its file.
  assert.ok((await collect(cache.read(feed.client, desc)).done).equals(blob));
  assert.equal(feed.gets(), 1);
});

test('a blob altered on the way fails its readers after its bytes and leaves no partial download and no cached blob', async () => {
  const cache = new BlobCache(join(dir, 'bad'));
  const blob = randomBytes(200_000);
  const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(blob), size: blob.length };
  const bad = Buffer.from(blob);
  bad[150_000] = (bad[150_000] ?? 0) ^ 0xff;
  const feed = feedClient();
  const reader = collect(cache.read(feed.client, desc));
  feed.push(bad.subarray(0, 120_000));
  await until('the first bytes arrive', () => reader.got() === 120_000);
  feed.push(bad.subarray(120_000));
  feed.end();
  await assert.rejects(reader.done, /does not match its digest/);
  assert.equal(await cache.has(desc.digest), false);
  assert.deepEqual(readdirSync(join(dir, 'bad', 'partial')), []);
  assert.equal(existsSync(cache.blobPath(desc.digest)), false);
});

test('a download cut short fails its reader and keeps its bytes for the next attempt to resume', async () => {
  const cache = new BlobCache(join(dir, 'short'));
  const blob = randomBytes(100_000);
  const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(blob), size: blob.length };
  const feed = feedClient();
  const reader = collect(cache.read(feed.client, desc));
  feed.push(blob.subarray(0, 40_000));
  feed.end();
  await assert.rejects(reader.done, /ended after 40000 of 100000 bytes/);
  assert.deepEqual(readdirSync(join(dir, 'short', 'partial')), [desc.digest.slice(7)]);
});
