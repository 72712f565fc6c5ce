/**
 * Catalog documents (fast-check, fixed seeds, 300+ malformed documents each): a good image or kernel
 * catalog with one thing wrong (top level, an entry, its source), or text that is not one. Parsing
 * gives bad_request naming the catalog with a hint; through the daemon (image_catalog_url and
 * kernel_catalog_url naming the damaged file), listing the catalogs and pulling from them is refused
 * with the typed envelope, and nothing is downloaded or created.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { BangerError } from '../../../api/errors.js';
import { API_PREFIX } from '../../../api/types.js';
import { expectRefused } from '../../../testing/api-fuzz.js';
import type { CliHarness } from '../../../testing/cli-harness.js';
import { invariantViolations } from '../../../testing/invariants.js';
import { rawRequest } from '../../../testing/raw-http.js';
import { tinyImageHome } from '../../../testing/tiny-image.js';
import { parseImageCatalog, parseKernelCatalog } from './catalog.js';

const RUNS = { numRuns: 320, includeErrorInReport: true };
const SHA = 'a'.repeat(64);
const download = { url: 'http://127.0.0.1:1/x.tar.zst', sha256: SHA, size: 1024 };

const goodKernels = () => ({
  schema: 1,
  kind: 'kernels',
  entries: [
    { name: 'k1', description: 'one', version: '6.1', default: true, source: { kind: 'bundle', ...download } },
    { name: 'k2', description: 'two', source: { kind: 'deb', ...download } },
  ],
});
const goodImages = () => ({
  schema: 1,
  kind: 'images',
  entries: [
    { name: 'i1', description: 'bundle', distro: 'debian', kernel: 'k1', source: { kind: 'bundle', ...download } },
    { name: 'i2', description: 'oci', source: { kind: 'oci', ref: '127.0.0.1:1/a/b:c' } },
    { name: 'i3', description: 'recipe', source: { kind: 'recipe', recipe: 'debian-bookworm' } },
  ],
});

const junk = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 6 }), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), fc.constant({}));
const badName = fc.oneof(fc.constantFrom('', 'UP', '-x', '.x', 'x'.repeat(64), 'a b', 'a/b'), junk.filter((v) => typeof v !== 'string'));
const badUrl = fc.oneof(fc.constantFrom('', 'not a url', 'file:///etc/passwd', 'ftp://x/y', 'javascript:alert(1)', '/abs/path'), junk.filter((v) => typeof v !== 'string'));
const badSha = fc.oneof(fc.stringMatching(/^[0-9a-f]{0,63}$/), fc.constant('A'.repeat(64)), fc.constant('g'.repeat(64)), junk.filter((v) => typeof v !== 'string'));
const badBytes = fc.oneof(fc.constantFrom(0, -1, 1.5, 2 ** 53, '1024', null, true), fc.integer({ max: 0 }));
const notNonEmptyString = fc.oneof(fc.constant(''), junk.filter((v) => typeof v !== 'string'));
const unknownKey = fc.stringMatching(/^[a-z]{1,8}$/);

type Doc = ReturnType<typeof goodKernels> | ReturnType<typeof goodImages>;
type Mutation = (d: Record<string, unknown>) => void;

/** Mutations that apply to either kind of catalog. */
function common(knownTop: string[], knownEntry: string[]): fc.Arbitrary<Mutation> {
  const entry = (d: Record<string, unknown>, i: number) => (d.entries as Record<string, unknown>[])[i % (d.entries as unknown[]).length]!;
  const src = (d: Record<string, unknown>, i: number) => entry(d, i).source as Record<string, unknown>;
  return fc.oneof(
    fc.oneof(junk.filter((v) => v !== 1), fc.constant(2), fc.constant('1')).map((v): Mutation => (d) => void (d.schema = v)),
    fc.oneof(junk, fc.constant('vms')).map((v): Mutation => (d) => void (d.kind = v)),
    junk.filter((v) => !Array.isArray(v)).map((v): Mutation => (d) => void (d.entries = v)),
    fc.constantFrom('schema', 'kind', 'entries').map((k): Mutation => (d) => void delete d[k]),
    fc.tuple(unknownKey.filter((k) => !knownTop.includes(k)), junk).map(([k, v]): Mutation => (d) => void (d[k] = v)),
    fc.tuple(fc.nat(), junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))).map(([i, v]): Mutation => (d) => void ((d.entries as unknown[])[i % (d.entries as unknown[]).length] = v)),
    fc.tuple(fc.nat(), unknownKey.filter((k) => !knownEntry.includes(k)), junk).map(([i, k, v]): Mutation => (d) => void (entry(d, i)[k] = v)),
    fc.tuple(fc.nat(), badName).map(([i, v]): Mutation => (d) => void (entry(d, i).name = v)),
    fc.nat().map((i): Mutation => (d) => void (entry(d, i + 1).name = entry(d, i).name)),
    fc.tuple(fc.nat(), fc.constantFrom('name', 'description', 'source')).map(([i, k]): Mutation => (d) => void delete entry(d, i)[k]),
    fc.tuple(fc.nat(), notNonEmptyString).map(([i, v]): Mutation => (d) => void (entry(d, i).description = v)),
    fc.tuple(fc.nat(), junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))).map(([i, v]): Mutation => (d) => void (entry(d, i).source = v)),
    fc.tuple(fc.nat(), fc.oneof(junk, fc.constant('git'))).map(([i, v]): Mutation => (d) => void (src(d, i).kind = v)),
    // only entry 0 has a download source in both catalogs
    badUrl.map((v): Mutation => (d) => void (src(d, 0).url = v)),
    badSha.map((v): Mutation => (d) => void (src(d, 0).sha256 = v)),
    badBytes.map((v): Mutation => (d) => void (src(d, 0).size = v)),
    fc.constantFrom('url', 'sha256', 'size').map((k): Mutation => (d) => void delete src(d, 0)[k]),
    fc.tuple(unknownKey.filter((k) => !['kind', 'url', 'sha256', 'size'].includes(k)), junk).map(([k, v]): Mutation => (d) => void (src(d, 0)[k] = v)),
  );
}

const kernelMutation = fc.oneof(
  common(['$schema', 'schema', 'kind', 'entries'], ['name', 'description', 'version', 'default', 'source']),
  junk.filter((v) => typeof v !== 'boolean' && v !== null).map((v): Mutation => (d) => void ((d.entries as Record<string, unknown>[])[0]!.default = v)),
  fc.constant<Mutation>((d) => void ((d.entries as Record<string, unknown>[])[1]!.default = true)),
  notNonEmptyString.filter((v) => v !== null).map((v): Mutation => (d) => void ((d.entries as Record<string, unknown>[])[0]!.version = v)),
);
const imageMutation = fc.oneof(
  common(['$schema', 'schema', 'kind', 'entries'], ['name', 'description', 'distro', 'kernel', 'source']),
  badName.filter((v) => v !== null).map((v): Mutation => (d) => void ((d.entries as Record<string, unknown>[])[0]!.kernel = v)),
  fc.oneof(notNonEmptyString, fc.constant(undefined)).map((v): Mutation => (d) => void (((d.entries as Record<string, unknown>[])[1]!.source as Record<string, unknown>).ref = v)),
  fc.oneof(notNonEmptyString, fc.constant(undefined)).map((v): Mutation => (d) => void (((d.entries as Record<string, unknown>[])[2]!.source as Record<string, unknown>).recipe = v)),
  fc.tuple(fc.constantFrom(1, 2), unknownKey.filter((k) => !['kind', 'ref', 'recipe'].includes(k))).map(([i, k]): Mutation => (d) => void (((d.entries as Record<string, unknown>[])[i]!.source as Record<string, unknown>)[k] = 1)),
);

const notADoc = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', '{', '[]', 'null', '1', '"x"'), fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)));
const damaged = (good: () => Doc, mutation: fc.Arbitrary<Mutation>) =>
  fc.oneof(
    { weight: 6, arbitrary: mutation.map((m) => {
      const d = good() as unknown as Record<string, unknown>;
      m(d);
      return JSON.stringify(d);
    }) },
    { weight: 1, arbitrary: notADoc },
  );

function refused(fn: () => unknown, prefix: string, text: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown instanceof BangerError, `${text}: expected a typed error, got ${thrown === undefined ? 'a catalog' : thrown instanceof Error ? thrown.message : JSON.stringify(thrown)}`);
  assert.equal(thrown.code, 'bad_request', text);
  assert.ok(thrown.message.startsWith(prefix), `${text}: ${thrown.message}`);
  assert.ok(thrown.hint, text);
}

test('the good catalogs parse (the fuzz below starts from them)', () => {
  assert.equal(parseKernelCatalog(JSON.stringify(goodKernels()), 'x').entries.length, 2);
  assert.equal(parseImageCatalog(JSON.stringify(goodImages()), 'x').entries.length, 3);
});

test('a damaged kernel catalog is bad_request naming it', () => {
  fc.assert(fc.property(damaged(goodKernels, kernelMutation), (text) => refused(() => parseKernelCatalog(text, '/c/kernels.json'), 'kernel catalog /c/kernels.json', text)), { ...RUNS, seed: 7401 });
});

test('a damaged image catalog is bad_request naming it', () => {
  fc.assert(fc.property(damaged(goodImages, imageMutation), (text) => refused(() => parseImageCatalog(text, '/c/images.json'), 'image catalog /c/images.json', text)), { ...RUNS, seed: 7402 });
});

let h: CliHarness;
before(async () => {
  h = await tinyImageHome();
  appendFileSync(join(h.home, 'config.toml'), `image_catalog_url = "${join(h.home, 'images.json')}"\nkernel_catalog_url = "${join(h.home, 'kernels.json')}"\n`);
  assert.equal((await h.run(['daemon', 'stop'])).code, 0);
});
after(() => h?.cleanup());

test('through the daemon, damaged catalogs refuse listing and pulling with the typed envelope, and nothing is made', async () => {
  const socket = h.layout.socketPath;
  const q = (s: string) => `${API_PREFIX}${s}`;
  writeFileSync(join(h.home, 'images.json'), JSON.stringify(goodImages()));
  writeFileSync(join(h.home, 'kernels.json'), JSON.stringify(goodKernels()));
  assert.equal((await h.run(['image', 'list'])).code, 0, 'the daemon starts with good catalogs');
  const req = fc.oneof(
    fc.tuple(damaged(goodKernels, kernelMutation), fc.constantFrom(['GET', '/catalog/kernels', undefined], ['POST', '/kernels/k1/pull', '{}'], ['POST', '/kernels/k2/pull', '{}'])).map(([doc, r]) => ({ file: 'kernels.json', doc, r })),
    fc.tuple(damaged(goodImages, imageMutation), fc.constantFrom(['GET', '/catalog/images', undefined], ['POST', '/images/pull', '{"ref":"i1"}'], ['POST', '/images/pull', '{"ref":"i2"}'])).map(([doc, r]) => ({ file: 'images.json', doc, r })),
  );
  await fc.assert(
    fc.asyncProperty(req, async ({ file, doc, r: [method, path, body] }) => {
      writeFileSync(join(h.home, file), doc);
      await expectRefused(socket, method, q(path), body, ['bad_request']);
    }),
    { ...RUNS, numRuns: 640, seed: 7403 },
  );
  const images = (await rawRequest(socket, 'GET', q('/images'))).json() as { name: string }[];
  assert.deepEqual(images.map((i) => i.name), ['tiny'], 'the daemon answers, with no image pulled');
  assert.deepEqual((await rawRequest(socket, 'GET', q('/kernels'))).json(), []);
  const blobs = join(h.layout.ociCacheDir, 'blobs', 'sha256');
  assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], []);
  assert.deepEqual(invariantViolations(h.layout), []);
});
