/**
 * Image layers as generated tar streams (fast-check, fixed seeds, 300+ malformed layers each) pulled
 * through the real pull path (blob cache, staging, unpack) from a registry stand-in: entries that
 * traverse, are absolute, escape through symlinks or hardlinks, are device nodes, carry names debugfs
 * cannot take or invalid whiteouts; and tar bytes that are cut short, have a bad checksum, a bogus
 * size or type, or are corrupt gzip. Each pull fails with a typed error naming the problem, leaves no
 * staging directory and no image, and writes nothing outside its staging tree.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { BangerError } from '../../../api/errors.js';
import { makeTar, type TarEntry } from '../../../testing/oci-registry.js';
import { damage, damagedTar } from '../../../testing/tar-damage.js';
import { quietContext } from '../../op-context.js';
import { BlobCache } from '../oci/blob-cache.js';
import { MT } from '../oci/media-types.js';
import { parseRef } from '../oci/reference.js';
import type { RegistryClient } from '../oci/registry.js';
import { pullImage, type PullSource } from '../pull.js';

const RUNS = { numRuns: 320, includeErrorInReport: true };

let root = '';
before(() => {
  root = mkdtempSync('/tmp/bh-tar-fuzz-');
  mkdirSync(join(root, 'outside'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pulls one image whose only layer is `blob`; returns what it threw. */
async function pullLayer(blob: Buffer, n: number): Promise<unknown> {
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(blob), size: blob.length };
  const client = { getBlob: () => Promise.resolve(new Response(new Uint8Array(blob))) } as unknown as RegistryClient;
  const source: PullSource = {
    ref: parseRef('127.0.0.1:1/fuzz/img:v1'),
    client,
    resolved: { digest: sha(Buffer.from(String(n))), mediaType: MT.ociManifest, manifest: { schemaVersion: 2, config: { mediaType: MT.ociConfig, digest: sha(Buffer.alloc(0)), size: 0 }, layers: [layer] } },
    layers: [layer],
    artifact: false,
  };
  const id = `fuzz${n}`;
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the pull did not end within 20 s')), 20_000)));
  try {
    await Promise.race([pullImage({ source, cache: new BlobCache(join(root, 'cache')), id, name: id, stagingRoot: join(root, 'staging'), destDir: join(root, 'images', id) }, quietContext()), hung]);
  } catch (err) {
    return err;
  } finally {
    clearTimeout(timer);
  }
  return undefined;
}

function assertRefused(thrown: unknown, what: string): void {
  try {
    checkRefused(thrown, what);
  } finally {
    // A failed case leaves nothing for the next (and for fast-check's shrinking) to trip over.
    rmSync(join(root, 'images'), { recursive: true, force: true });
    for (const d of ['staging', 'outside']) for (const e of readdirSync(join(root, d))) rmSync(join(root, d, e), { recursive: true, force: true });
  }
}

function checkRefused(thrown: unknown, what: string): void {
  assert.ok(thrown instanceof BangerError, `${what}: expected a typed error, got ${thrown === undefined ? 'an image' : thrown instanceof Error ? `${thrown.constructor.name}: ${thrown.message}` : JSON.stringify(thrown)}`);
  assert.equal(thrown.code, 'operation_failed', `${what}: ${thrown.message}`);
  assert.deepEqual(readdirSync(join(root, 'staging')), [], `${what}: no staging directory is left`);
  assert.equal(existsSync(join(root, 'images')), false, `${what}: no image was published`);
  assert.deepEqual(readdirSync(join(root, 'outside')), [], `${what}: nothing was written outside the tree`);
  assert.deepEqual(readdirSync(root).sort(), ['cache', 'outside', 'staging'], `${what}: nothing was written beside the tree`);
  assert.deepEqual(readdirSync(join(root, 'cache', 'partial')), [], `${what}: no partial download is left`);
}

const seg = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
const path = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
/** What a real image holds before and after the bad entry. */
const benign: fc.Arbitrary<TarEntry[]> = fc.tuple(fc.uint8Array({ maxLength: 1500 }), fc.array(path, { maxLength: 3 })).map(([data, more]) => [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/os-release', content: 'ID=debian\n' },
  { name: 'srv/data', content: Buffer.from(data) },
  ...more.map((p) => ({ name: `srv/${p}`, content: p })),
]);

/** One entry (or two) that must be refused. */
const evil: fc.Arbitrary<readonly TarEntry[]> = fc.oneof<fc.Arbitrary<readonly TarEntry[]>[]>(
  fc.tuple(fc.array(seg, { maxLength: 3 }), fc.array(seg, { minLength: 1, maxLength: 3 })).map(([a, b]) => [{ name: [...a, '..', ...b].join('/'), content: 'x' }]),
  path.map((p) => [{ name: `/${p}`, content: 'x' }]),
  fc.tuple(fc.array(seg, { maxLength: 2 }), fc.integer({ min: 1, max: 6 }), seg).map(([dirs, up, leaf]) => {
    const at = [...dirs, 'l'].join('/');
    return [{ name: at, type: 'symlink', linkname: `${'../'.repeat(dirs.length + up)}outside` }, { name: `${at}/${leaf}`, content: 'escaped' }] satisfies TarEntry[];
  }),
  fc.tuple(fc.integer({ min: 1, max: 6 }), seg).map(([up, leaf]): TarEntry[] => [{ name: `hl-${leaf}`, type: 'link', linkname: `${'../'.repeat(up)}outside/x` }]),
  fc.constantFrom<TarEntry[]>([{ name: 'hl', type: 'link', linkname: '/etc/passwd' }], [{ name: 'hl', type: 'link', linkname: 'etc' }], [{ name: 'hl', type: 'link', linkname: 'no/such/file' }]),
  fc.tuple(fc.constantFrom<'character-device' | 'block-device'>('character-device', 'block-device'), path, fc.nat(255), fc.nat(255)).map(([type, p, devmajor, devminor]) => [{ name: `dev/${p}`, type, devmajor, devminor }]),
  fc.tuple(seg, fc.constantFrom('\n', '\r'), seg).map(([a, c, b]) => [{ name: `${a}${c}${b}`, content: 'x' }]),
  fc.constant([{ name: `srv/${'n'.repeat(200)}/`.repeat(21) + 'f', content: 'x' }]),
  fc.tuple(fc.array(seg, { maxLength: 2 }), fc.constantFrom('.wh.', '.wh..')).map(([a, w]) => [{ name: [...a, w].join('/'), content: '' }]),
  seg.map((s): TarEntry[] => [{ name: s, type: 'symlink', linkname: '' }]),
);

test('a layer with an entry that traverses, escapes, is a device or cannot be stored is refused and leaves nothing', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(benign, evil, benign, fc.boolean(), async (pre, bad, post, gzip) => {
      const tar = await makeTar([...pre, ...bad, ...post.filter((e) => e.name !== 'etc/')]);
      const thrown = await pullLayer(gzip ? gzipSync(tar) : tar, n++);
      assertRefused(thrown, JSON.stringify(bad));
      assert.match((thrown as Error).message, /rejected/, JSON.stringify(bad));
    }),
    { ...RUNS, seed: 6401 },
  );
});

test('a layer whose tar bytes are cut short, fail their checksum, give a bogus size or type, or are corrupt gzip is refused and leaves nothing', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(damagedTar(benign), async (d) => {
      const thrown = await pullLayer(await damage(d), 1000 + n++);
      assertRefused(thrown, `${d.how} ${d.i} ${d.j} ${d.x} ${JSON.stringify(d.entries.map((e) => e.name))}`);
    }),
    { ...RUNS, seed: 6402 },
  );
});
