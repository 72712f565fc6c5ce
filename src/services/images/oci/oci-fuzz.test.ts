/**
 * OCI inputs (fast-check, fixed seeds, 300+ malformed cases each): image references, manifests and
 * indexes served by a registry on loopback (not JSON, wrong media types, bad digests, bad or huge
 * sizes, indexes that lead nowhere, digests that do not match), and the Docker config.json the
 * credentials come from. Each gives a typed error (or, for a credentials file, no credential), never
 * a crash; resolving writes nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { BangerError, type ErrorCode } from '../../../api/errors.js';
import { freeLoopbackPort } from '../../../system/net.js';
import { openSource } from '../pull.js';
import { credentialFor } from './credentials.js';
import { MT } from './media-types.js';
import { formatRef, parseRef } from './reference.js';

const RUNS = { numRuns: 320, includeErrorInReport: true };

function typed(err: unknown, codes: readonly ErrorCode[], what: string): void {
  assert.ok(err instanceof BangerError, `${what}: expected a typed error, got ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : JSON.stringify(err)}`);
  assert.ok(codes.includes(err.code), `${what}: ${err.code} ${err.message}`);
}

test('a malformed image reference is bad_request with a hint', () => {
  const bad = fc.oneof(
    fc.constantFrom('', ' ', 'a//b', 'a:', ':tag', '/a', 'a/', 'a@sha256:xyz', 'a@sha256:' + 'A'.repeat(64), 'a b', 'x/-y', 'a:' + 't'.repeat(129), 'r'.repeat(513), 'host:port/a', 'a/' + 'b'.repeat(256), '[::1/a'),
    fc.string({ minLength: 1, maxLength: 20 }).filter((s) => /[A-Z"'\\!$%^&*()=+[\]{};,<>?|`~]/.test(s.split('@')[0]!.split(':')[0]!)),
    fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ minLength: 1, maxLength: 70 }).filter((d) => !/^sha256:[a-f0-9]{64}$/.test(d))).map(([r, d]) => `${r}@${d}`),
    fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ minLength: 1, maxLength: 10 }).filter((t) => !/^[\w][\w.-]{0,127}$/.test(t) && !t.includes('/') && !t.includes('@'))).map(([r, t]) => `${r}:${t}`),
  );
  fc.assert(
    fc.property(bad, (ref) => {
      let thrown: unknown;
      try {
        parseRef(ref);
      } catch (err) {
        thrown = err;
      }
      typed(thrown, ['bad_request'], JSON.stringify(ref));
      assert.ok((thrown as BangerError).hint);
    }),
    { ...RUNS, seed: 5401 },
  );
});

test('any text is either a reference that formats and parses back to itself, or bad_request', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.stringMatching(/^([a-z0-9.:-]{1,12}\/)?[a-z0-9._/-]{1,20}(:[\w.-]{1,8})?(@sha256:[0-9a-f]{64})?$/)), (text) => {
      try {
        const ref = parseRef(text);
        assert.deepEqual(parseRef(formatRef(ref)), ref, text);
      } catch (err) {
        typed(err, ['bad_request'], JSON.stringify(text));
      }
    }),
    { ...RUNS, seed: 5402 },
  );
});

interface Answer {
  status?: number;
  type: string;
  body: Buffer;
}

/** A registry on loopback answering manifest requests from a table (tag or digest -> answer). */
let server: Server;
let host = '';
const table = new Map<string, Answer>();
let dir = '';
before(async () => {
  dir = mkdtempSync('/tmp/bh-oci-fuzz-');
  const port = await freeLoopbackPort();
  host = `127.0.0.1:${port}`;
  server = createServer((req, res) => {
    const target = /\/manifests\/([^/]+)$/.exec(req.url ?? '')?.[1];
    const a = target ? table.get(decodeURIComponent(target)) : undefined;
    if (!a) return res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    res.writeHead(a.status ?? 200, { 'content-type': a.type }).end(a.body);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
const digest = hex.map((h) => `sha256:${h}`);
const badDigest = fc.oneof(
  fc.constantFrom('', 'sha256:', 'sha512:' + 'a'.repeat(128), 'sha256:' + 'A'.repeat(64), 'sha256:' + 'a'.repeat(63), 'md5:abc', 'sha256:../../etc/passwd'),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.constant(null),
);
const badSize = fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true, noNaN: true }), fc.constantFrom(2 ** 53, 1e300, '100', null, true, [1]));
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const desc = (mediaType: string) => fc.record({ mediaType: fc.constant(mediaType), digest, size: fc.nat(1 << 20) });
const goodManifest = fc.record({ schemaVersion: fc.constant(2), mediaType: fc.constant(MT.ociManifest), config: desc(MT.ociConfig), layers: fc.array(desc(LAYER), { minLength: 1, maxLength: 3 }) });
const junk = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 8 }), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), fc.constant({}));

/** An image manifest with one thing wrong. */
const badManifest = fc.oneof(
  fc.tuple(goodManifest, fc.constantFrom('schemaVersion', 'config', 'layers'), fc.option(junk, { nil: undefined })).filter(([, k, v]) => !(k === 'layers' && Array.isArray(v) && v.length === 0)).map(([m, k, v]) => {
    const o: Record<string, unknown> = { ...m };
    if (v === undefined) delete o[k];
    else o[k] = v;
    return o;
  }),
  fc.tuple(goodManifest, fc.nat(), fc.constantFrom('digest', 'size', 'whole'), fc.oneof(badDigest, badSize, junk)).map(([m, i, k, v]) => {
    const all = [m.config, ...m.layers];
    const n = i % all.length;
    const d: unknown = k === 'whole' ? (typeof v === 'object' && v !== null && !Array.isArray(v) ? null : v) : { ...all[n], [k]: k === 'digest' ? (typeof v === 'string' && /^sha256:[a-f0-9]{64}$/.test(v) ? 'x' : v) : v };
    if (k === 'size' && typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return { ...m, config: { ...m.config, size: -1 } };
    return n === 0 ? { ...m, config: d } : { ...m, layers: m.layers.map((l, j) => (j === n - 1 ? d : l)) };
  }),
  fc.tuple(goodManifest, fc.string({ maxLength: 40 }).filter((t) => !t.startsWith('application/vnd.oci.image.layer') && !t.startsWith('application/vnd.docker.image.rootfs'))).map(([m, t]) => ({ ...m, layers: [...m.layers, { ...m.layers[0]!, mediaType: t }] })),
);

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const amd64 = { os: 'linux', architecture: 'amd64' };

/** What the registry answers for the tag (and for digests an index names): one malformed case. */
const badRegistry = fc.oneof(
  badManifest.map((m) => ({ tag: { type: MT.ociManifest, body: json(m) } })),
  fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('null', '[]', '7', '"x"', '{"schemaVersion":2')).map((t) => ({ tag: { type: MT.ociManifest, body: Buffer.from(t) } })),
  fc.tuple(goodManifest, fc.oneof(fc.constantFrom('application/json', 'text/plain', '', MT.ociConfig), fc.string({ maxLength: 30 }))).map(([m, t]) => ({ tag: { type: t, body: json({ ...m, mediaType: t === '' ? undefined : t }) } })),
  fc.constantFrom(404, 400, 500, 418, 403).map((status) => ({ tag: { status, type: 'application/json', body: Buffer.from('{"errors":[{"code":"DENIED","message":"no"}]}') } })),
  // indexes: entries that are not descriptors, no entry for linux/amd64, a bad digest on the one that matches
  fc.oneof(junk.filter((v) => !Array.isArray(v) || v.length > 0), fc.array(junk, { minLength: 1, maxLength: 3 })).map((manifests) => ({ tag: { type: MT.ociIndex, body: json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }) } })),
  fc.array(fc.record({ mediaType: fc.constant(MT.ociManifest), digest, size: fc.nat(), platform: fc.record({ os: fc.constantFrom('linux', 'windows', 'unknown'), architecture: fc.constantFrom('arm64', 's390x', 'riscv64') }) }), { maxLength: 3 }).map((manifests) => ({
    tag: { type: MT.ociIndex, body: json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }) },
  })),
  fc.tuple(fc.oneof(badDigest, fc.constant(undefined)), badSize).map(([d, s]) => ({ tag: { type: MT.ociIndex, body: json({ schemaVersion: 2, manifests: [{ mediaType: MT.ociManifest, digest: d, size: s, platform: amd64 }] }) } })),
  // an index whose linux/amd64 entry is missing, altered, not an image, or bad
  fc.tuple(fc.oneof(badManifest.map(json), goodManifest.map((m) => json({ ...m, mediaType: MT.ociIndex })), fc.string({ maxLength: 20 }).map((s) => Buffer.from(s))), fc.constantFrom('served', 'altered', 'missing')).map(([body, how]) => {
    const d = sha(body);
    const index = { tag: { type: MT.ociIndex, body: json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: d, size: body.length, platform: amd64 }] }) } };
    if (how === 'missing') return index;
    return { ...index, [d]: { type: MT.ociManifest, body: how === 'altered' ? Buffer.concat([body, Buffer.from(' ')]) : body } };
  }),
  fc.constant({ tag: { type: MT.ociManifest, body: Buffer.alloc(4 * 1024 * 1024 + 1, 0x20) } }),
);

test('malformed manifests and indexes give a typed error and write nothing', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(badRegistry, async (answers) => {
      const tag = `t${n++}`;
      for (const [k, a] of Object.entries(answers)) table.set(k === 'tag' ? tag : k, a);
      let thrown: unknown;
      try {
        await openSource(`${host}/fuzz/img:${tag}`, undefined, { insecure: [], dockerConfig: join(dir, 'none.json') }, new AbortController().signal);
      } catch (err) {
        thrown = err;
      } finally {
        table.clear();
      }
      typed(thrown, ['operation_failed', 'not_found', 'bad_request', 'unavailable'], JSON.stringify(answers, (_k, v: unknown) => (v && typeof v === 'object' && 'type' in v && 'body' in v ? { ...(v as Answer), body: String((v as Answer).body).slice(0, 300) } : v)));
    }),
    { ...RUNS, numRuns: 640, seed: 5403 },
  );
  assert.deepEqual(readdirSync(dir), []);
});

test('a damaged Docker config.json gives no credential (or one with string fields), never a crash', async () => {
  const entry = fc.oneof(
    junk,
    fc.record({ auth: fc.oneof(fc.string({ maxLength: 20 }), fc.base64String({ maxLength: 20 }), junk) }, { requiredKeys: [] }),
    fc.record({ username: fc.oneof(fc.string({ maxLength: 6 }), junk), password: fc.oneof(fc.string({ maxLength: 6 }), junk), identitytoken: fc.oneof(fc.string({ maxLength: 6 }), junk) }, { requiredKeys: [] }),
  );
  const key = fc.constantFrom(host, `http://${host}`, `https://${host}/v2/`, host.toUpperCase(), '', 'docker.io');
  const doc = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    junk.map((v) => JSON.stringify(v)),
    fc.oneof(junk, fc.dictionary(key, entry, { maxKeys: 3 })).map((auths) => JSON.stringify({ auths })),
    fc.constantFrom('{"auths":', '{"auths":{"' + host + '":{"auth":"!!!"}}}', '{"auths":{"' + host + '":{"auth":"' + Buffer.from('nocolon').toString('base64') + '"}}}'),
  );
  const file = join(dir, 'config.json');
  await fc.assert(
    fc.asyncProperty(doc, async (text) => {
      writeFileSync(file, text);
      let cred;
      try {
        cred = await credentialFor(host, file);
      } catch (err) {
        assert.fail(`${JSON.stringify(text)}: ${String(err)}`);
      }
      if (cred !== undefined) {
        for (const v of Object.values(cred)) assert.equal(typeof v, 'string', JSON.stringify(text));
        assert.ok(cred.username !== undefined || cred.identityToken !== undefined, JSON.stringify(text));
      }
    }),
    { ...RUNS, seed: 5404 },
  );
  rmSync(file);
});
