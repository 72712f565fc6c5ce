/**
 * Catalog bundles (tar.zst) as generated archives (fast-check, fixed seeds, 300+ malformed bundles
 * each): entries that leave the bundle, links, devices and names a kernel bundle does not hold; and
 * tar bytes that are cut short, fail their checksum, give a bogus size or type. Each unpack fails
 * with operation_failed within a bounded time and writes nothing outside its directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { BangerError } from '../../../api/errors.js';
import { which } from '../../../system/exec.js';
import { compress, makeTar, type TarEntry } from '../../../testing/oci-registry.js';
import { damage, damagedTar } from '../../../testing/tar-damage.js';
import { KERNEL_BUNDLE } from '../../kernels/pull-catalog.js';
import { extractBundle } from './bundle.js';

const skip = which('zstd') ? false : 'needs zstd';
const RUNS = { numRuns: 300, includeErrorInReport: true };

let root = '';
before(() => {
  root = mkdtempSync('/tmp/bh-bundle-fuzz-');
  mkdirSync(join(root, 'outside'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Unpacks the bundle bytes into a fresh directory; returns what it threw. */
async function unpack(bytes: Buffer, n: number): Promise<unknown> {
  const file = join(root, `b${n}.tar.zst`);
  const out = join(root, `out${n}`);
  writeFileSync(file, bytes);
  mkdirSync(out);
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the unpack did not end within 20 s')), 20_000)));
  try {
    await Promise.race([extractBundle(file, out, KERNEL_BUNDLE, 'the fuzz bundle', new AbortController().signal), hung]);
  } catch (err) {
    return err;
  } finally {
    clearTimeout(timer);
    rmSync(file, { force: true });
    rmSync(out, { recursive: true, force: true });
  }
  return undefined;
}

function assertRefused(thrown: unknown, what: string): void {
  try {
    assert.ok(thrown instanceof BangerError, `${what}: expected a typed error, got ${thrown === undefined ? 'an unpacked bundle' : thrown instanceof Error ? `${thrown.constructor.name}: ${thrown.message}` : JSON.stringify(thrown)}`);
    assert.equal(thrown.code, 'operation_failed', `${what}: ${thrown.message}`);
    assert.deepEqual(readdirSync(join(root, 'outside')), [], `${what}: nothing was written outside`);
    assert.deepEqual(readdirSync(root), ['outside'], `${what}: nothing was written beside the bundle's directory`);
  } finally {
    for (const e of readdirSync(root)) rmSync(join(root, e), { recursive: true, force: true });
    mkdirSync(join(root, 'outside'), { recursive: true });
  }
}

const seg = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
const good = fc.tuple(fc.uint8Array({ maxLength: 1500 }), fc.array(seg, { maxLength: 2 })).map(([k, mods]): TarEntry[] => [
  { name: 'vmlinuz', content: Buffer.from(k) },
  { name: 'modules/', type: 'directory' },
  ...mods.map((m) => ({ name: `modules/${m}.ko`, content: m })),
]);
const evil = fc.oneof<fc.Arbitrary<TarEntry[]>[]>(
  seg.map((s) => [{ name: `/${s}`, content: 'x' }]),
  fc.tuple(fc.array(seg, { maxLength: 2 }), seg).map(([a, b]) => [{ name: ['modules', ...a, '..', '..', '..', 'outside', b].join('/'), content: 'x' }]),
  seg.filter((s) => !['vmlinuz', 'vmlinux', 'modules'].includes(s)).map((s) => [{ name: s, content: 'x' }]),
  seg.filter((s) => s !== 'modules').map((s) => [{ name: `${s}/`, type: 'directory' }]),
  fc.tuple(fc.constantFrom<'symlink' | 'link'>('symlink', 'link'), seg).map(([type, s]) => [{ name: `modules/${s}`, type, linkname: '../../outside' }]),
  fc.tuple(fc.constantFrom<'character-device' | 'block-device' | 'fifo'>('character-device', 'block-device', 'fifo'), seg).map(([type, s]) => [{ name: `modules/${s}`, type, devmajor: 1, devminor: 3 }]),
  fc.constantFrom<TarEntry[]>([{ name: 'modules//x', content: 'x' }], [{ name: 'initrd.img/x', content: 'x' }]),
);

test('a bundle with an entry that leaves it, is a link or device, or is no file a kernel bundle holds is refused', { skip }, async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(good, evil, async (pre, bad) => {
      const thrown = await unpack(await compress(await makeTar([...pre, ...bad]), 'zstd'), n++);
      assertRefused(thrown, JSON.stringify(bad));
    }),
    { ...RUNS, seed: 8401 },
  );
});

test('a bundle whose tar bytes are cut short, fail their checksum, or give a bogus size or type is refused within a bounded time', { skip }, async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(damagedTar(good).filter((d) => d.how !== 'gzip'), async (d) => {
      const thrown = await unpack(await compress(await damage(d), 'zstd'), 1000 + n++);
      assertRefused(thrown, `${d.how} ${d.i} ${d.j} ${d.x} ${JSON.stringify(d.entries.map((e) => e.name))}`);
    }),
    { ...RUNS, seed: 8402 },
  );
});
