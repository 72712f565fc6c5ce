/**
 * Layers are unpacked while they download. A blob altered on the way fails the pull with its digest
 * mismatch even when its bytes stop being a valid layer before the download ends, and nothing the
 * layer wrote survives: no image, no staging tree, no partial download, no cached blob for it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BangerError } from '../../api/errors.js';
import { which } from '../../system/exec.js';
import { makeTar } from '../../testing/oci-registry.js';
import { quietContext } from '../op-context.js';
import { BlobCache } from './oci/blob-cache.js';
import { MT, type Descriptor } from './oci/media-types.js';
import { parseRef } from './oci/reference.js';
import type { RegistryClient } from './oci/registry.js';
import { pullImage, type PullSource } from './pull.js';
import { stat } from '../../drivers/ext4/index.js';

const skip = ['mkfs.ext4', 'debugfs'].every((t) => which(t)) ? false : 'needs e2fsprogs';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-pull-stream-test-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A registry stand-in serving `served` for each digest (altered bytes where the test says), in small chunks. */
function clientFor(served: Map<string, Buffer>): RegistryClient {
  return {
    getBlob: (digest: string) => {
      const data = served.get(digest)!;
      let at = 0;
      return Promise.resolve(
        new Response(
          new ReadableStream<Uint8Array>({
            pull: async (c) => {
              await new Promise((r) => setTimeout(r, 1));
              if (at >= data.length) return c.close();
              c.enqueue(new Uint8Array(data.subarray(at, at + 16_384)));
              at += 16_384;
            },
          }),
        ),
      );
    },
  } as unknown as RegistryClient;
}

function sourceOf(layers: Descriptor[], served: Map<string, Buffer>, tag: string): PullSource {
  return {
    ref: parseRef(`127.0.0.1:1/stream/img:${tag}`),
    client: clientFor(served),
    resolved: { digest: sha(Buffer.from(tag)), mediaType: MT.ociManifest, manifest: { schemaVersion: 2, config: { mediaType: MT.ociConfig, digest: sha(Buffer.alloc(0)), size: 0 }, layers } },
    layers,
    artifact: false,
  };
}

async function gzipLayer(prefix: string): Promise<{ desc: Descriptor; data: Buffer }> {
  const tar = await makeTar([
    { name: `${prefix}/`, type: 'directory' },
    ...Array.from({ length: 40 }, (_, i) => ({ name: `${prefix}/f${i}`, content: randomBytes(8_000), uid: 1000 + i, mode: 0o640 })),
  ]);
  const data = gzipSync(tar);
  return { desc: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(data), size: data.length }, data };
}

test('layers unpacked while they download make the same image, and their blobs are cached', { skip }, async () => {
  const layers = [await gzipLayer('a'), await gzipLayer('b'), await gzipLayer('c')];
  const served = new Map(layers.map((l) => [l.desc.digest, l.data]));
  const cache = new BlobCache(join(dir, 'ok-cache'));
  const pulled = await pullImage(
    { source: sourceOf(layers.map((l) => l.desc), served, 'ok'), cache, id: 'ok', name: 'ok', stagingRoot: join(dir, 'ok-staging'), destDir: join(dir, 'ok-image') },
    quietContext(),
  );
  assert.equal(pulled.manifest.name, 'ok');
  const f = await stat(join(dir, 'ok-image', 'rootfs.ext4'), '/c/f39');
  assert.deepEqual([f?.uid, f?.mode, f?.size], [1039, 0o640, 8_000]);
  for (const l of layers) assert.equal(await cache.has(l.desc.digest), true);
  assert.deepEqual(readdirSync(join(dir, 'ok-cache', 'partial')), []);
  assert.deepEqual(readdirSync(join(dir, 'ok-staging')), []);
});

test('a layer altered mid-stream fails the pull with its digest mismatch and leaves nothing of it behind', { skip }, async () => {
  const layers = [await gzipLayer('a'), await gzipLayer('b')];
  const bad = Buffer.from(layers[1]!.data);
  // Early in the blob, so the gzip stream breaks long before the download ends.
  for (let i = 200; i < 260; i++) bad[i] = (bad[i] ?? 0) ^ 0x5a;
  const served = new Map([
    [layers[0]!.desc.digest, layers[0]!.data],
    [layers[1]!.desc.digest, bad],
  ]);
  const cache = new BlobCache(join(dir, 'bad-cache'));
  await assert.rejects(
    pullImage({ source: sourceOf(layers.map((l) => l.desc), served, 'bad'), cache, id: 'bad', name: 'bad', stagingRoot: join(dir, 'bad-staging'), destDir: join(dir, 'bad-image') }, quietContext()),
    (err: unknown) => {
      assert.ok(err instanceof BangerError, String(err));
      assert.equal(err.code, 'operation_failed');
      assert.match(err.message, new RegExp(`blob ${layers[1]!.desc.digest} does not match its digest`));
      return true;
    },
  );
  assert.equal(existsSync(join(dir, 'bad-image')), false, 'no image');
  assert.deepEqual(readdirSync(join(dir, 'bad-staging')), [], 'no staging tree');
  assert.deepEqual(readdirSync(join(dir, 'bad-cache', 'partial')), [], 'no partial download');
  assert.equal(await cache.has(layers[1]!.desc.digest), false, 'the altered blob is not cached');
  assert.equal(await cache.has(layers[0]!.desc.digest), true, 'the good layer stays cached for the next pull');
});
