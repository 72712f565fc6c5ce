/**
 * Image manifests read back from disk (fast-check, fixed seed, 300+ malformed files): every damaged
 * manifest is operation_failed naming the file with a hint, never a crash or a half-checked manifest,
 * and reading one writes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { BangerError } from '../../api/errors.js';
import { IMAGE_FILES, readManifest, type ImageManifest } from './manifest.js';

const RUNS = { seed: 1418, numRuns: 400 };

const good: ImageManifest = {
  schema: 1,
  id: '0123456789ab',
  name: 'debian',
  distro: 'debian',
  suite: 'bookworm',
  arch: 'x86_64',
  source: 'recipe',
  files: { rootfs: 'rootfs.ext4', kernel: 'vmlinuz', initrd: 'initrd.img' },
  sha256: { kernel: 'a'.repeat(64) },
  rootfsSizeBytes: 1 << 30,
  cmdline: 'console=ttyS0',
  guestBits: { version: 3, digest: 'abc' },
  createdAt: '2026-01-01T00:00:00.000Z',
};

const wrongValue = fc.oneof(
  fc.constant(null),
  fc.integer({ min: -3, max: 3 }),
  fc.constant(2 ** 60),
  fc.constant(-1),
  fc.double().filter((d) => !Number.isInteger(d)),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
  fc.constant('../../etc/passwd'),
  fc.constant('/abs/rootfs.ext4'),
  fc.constant('Z'.repeat(64)),
);

/** The good manifest with one field (top level or nested) replaced by a value of the wrong kind, or removed. */
const oneFieldWrong = fc
  .tuple(
    fc.constantFrom('schema', 'id', 'name', 'distro', 'arch', 'source', 'cmdline', 'createdAt', 'rootfsSizeBytes', 'files', 'sha256', 'guestBits', 'suite', 'files.rootfs', 'files.kernel', 'files.extra', 'sha256.kernel', 'guestBits.version', 'guestBits.digest'),
    fc.option(wrongValue, { nil: undefined }),
  )
  .filter(([k, v]) => {
    if (v === undefined) return ['schema', 'id', 'name', 'distro', 'arch', 'source', 'cmdline', 'createdAt', 'rootfsSizeBytes', 'files', 'sha256', 'guestBits', 'files.rootfs', 'guestBits.version', 'guestBits.digest'].includes(k);
    // values that are in fact allowed for the field
    if (k === 'rootfsSizeBytes' && typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return false;
    if (k === 'schema' && v === 1) return false;
    if (k === 'guestBits.version' && typeof v === 'number') return false;
    if (['id', 'name', 'distro', 'arch', 'source', 'cmdline', 'createdAt', 'suite', 'guestBits.digest'].includes(k) && typeof v === 'string') return false;
    if (k.startsWith('files.') && k !== 'files.extra' && typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v)) return false;
    return true;
  })
  .map(([k, v]) => {
    const m = JSON.parse(JSON.stringify(good)) as Record<string, Record<string, unknown>>;
    const [a, b] = k.split('.') as [string, string | undefined];
    if (b === undefined) {
      if (v === undefined) delete m[a];
      else (m as Record<string, unknown>)[a] = v;
    } else if (v === undefined) delete m[a]![b];
    else m[a]![b] = v;
    return JSON.stringify(m);
  });

const damaged = fc.oneof(
  oneFieldWrong,
  fc.integer({ min: 0, max: JSON.stringify(good).length - 1 }).map((n) => JSON.stringify(good).slice(0, n)),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
);

test('a damaged image manifest is operation_failed naming the file, and reading it writes nothing', async () => {
  const dir = mkdtempSync('/tmp/bh-manifest-');
  const path = join(dir, IMAGE_FILES.manifest);
  try {
    await fc.assert(
      fc.asyncProperty(damaged, async (text) => {
        writeFileSync(path, text);
        let thrown: unknown;
        try {
          await readManifest(dir);
        } catch (err) {
          thrown = err;
        }
        assert.ok(thrown instanceof BangerError, `${JSON.stringify(text)}: expected a typed error, got ${thrown === undefined ? 'a manifest' : thrown instanceof Error ? thrown.message : JSON.stringify(thrown)}`);
        assert.equal(thrown.code, 'operation_failed');
        assert.ok(thrown.message.startsWith(`${path} is not a valid image manifest: `), thrown.message);
        assert.ok(thrown.hint, 'the error carries a hint');
        assert.deepEqual(readdirSync(dir), [IMAGE_FILES.manifest], 'a read leaves no other file');
        assert.equal(readFileSync(path, 'utf8'), Buffer.from(text).toString('utf8'), 'a read does not rewrite the file');
      }),
      RUNS,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a whole manifest reads back as written', async () => {
  const dir = mkdtempSync('/tmp/bh-manifest-');
  try {
    writeFileSync(join(dir, IMAGE_FILES.manifest), JSON.stringify(good));
    assert.deepEqual(await readManifest(dir), good);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
