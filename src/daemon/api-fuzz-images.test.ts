/**
 * Malformed requests to the image, kernel and system routes the first API fuzz suite does not cover
 * (fast-check, fixed seeds, 300+ cases per surface), through the real daemon (fake driver) over its
 * unix socket: image pull, push and build, cache prune, kernel pull, and a body on every route that
 * takes none. Each is refused with the typed envelope and a 4xx code (at once, or as the error of the
 * operation it started); nothing reaches a registry or a mirror, and afterwards the daemon still
 * answers with nothing created: no image, kernel, VM, staging or cache entry.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { API_PREFIX, type PingResult } from '../api/types.js';
import { badSize, expectRefused, notBool, notJson, notObject, notString, oneField, unknownField } from '../testing/api-fuzz.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { invariantViolations } from '../testing/invariants.js';
import { rawRequest } from '../testing/raw-http.js';
import { tinyImageHome } from '../testing/tiny-image.js';

const RUNS = { numRuns: 300, includeErrorInReport: true };
const body = (b: fc.Arbitrary<string>) => fc.oneof({ weight: 8, arbitrary: b }, { weight: 1, arbitrary: notObject }, { weight: 1, arbitrary: notJson });

/** A well-formed reference to a registry nothing listens on: any case that got as far as the network would fail with unavailable. */
const NOWHERE = '127.0.0.1:1/fuzz/img:v1';

/** References parseRef refuses. */
const badRef = fc.oneof(
  fc.constantFrom('', ' ', 'UPPER/case', 'a//b', 'a:', ':tag', 'a@sha256:xyz', 'a@md5:' + '0'.repeat(32), 'a b', 'x/-y', 'a:' + 't'.repeat(129), 'r'.repeat(513), 'host:99999999/a/b'),
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => /[A-Z\s"'\\!$%^&*()=+[\]{};,<>?|`~]/.test(s)),
  fc.stringMatching(/^[a-z]{1,8}@sha256:[0-9a-f]{1,63}$/),
);
const badArtifactName = fc.oneof(
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(s) || s.includes('..')),
  fc.constantFrom('../etc', 'a/b', '.hidden', '-x', 'x'.repeat(64), 'a..b'),
);
const badPlatform = fc.oneof(fc.constantFrom('', 'linux', 'linux/', '/amd64', 'linux/amd64/v8/x', 'Linux/AMD64', 'linux/amd 64'), fc.string({ maxLength: 12 }).filter((s) => !/^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_]+)?$/.test(s)));

describe('the image, kernel and system routes refuse malformed requests with the typed envelope and create nothing', () => {
  let h: CliHarness;
  let socket = '';
  let pid = 0;
  const q = (s: string) => `${API_PREFIX}${s}`;

  before(async () => {
    h = await tinyImageHome();
    socket = h.layout.socketPath;
    pid = ((await rawRequest(socket, 'GET', q('/ping'))).json() as PingResult).pid;
  });
  after(() => h.cleanup());

  /** The same daemon answers, and there is still only the tiny image: no kernel, VM, staging, cache blob or operation that did work. */
  async function nothingMade(): Promise<void> {
    const ping = await rawRequest(socket, 'GET', q('/ping'));
    assert.equal(ping.status, 200, 'the daemon still answers');
    assert.equal((ping.json() as PingResult).pid, pid, 'the same daemon: none of the requests stopped it');
    const images = (await rawRequest(socket, 'GET', q('/images'))).json() as { name: string }[];
    assert.deepEqual(images.map((i) => i.name), ['tiny']);
    assert.deepEqual((await rawRequest(socket, 'GET', q('/kernels'))).json(), []);
    assert.deepEqual((await rawRequest(socket, 'GET', q('/vms'))).json(), []);
    assert.deepEqual(readdirSync(h.layout.vmsDir), []);
    const blobs = join(h.layout.ociCacheDir, 'blobs', 'sha256');
    assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], [], 'nothing was downloaded');
    assert.deepEqual(invariantViolations(h.layout), []);
  }

  it('POST /images/pull: bad references, names, sizes, platforms, kernels and their combinations', async () => {
    const kernel = join(h.home, 'vmlinuz');
    const badPath = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.startsWith('/')), fc.constantFrom('/nonexistent/vmlinuz', h.home, '/'));
    const good = { ref: NOWHERE };
    const bad = fc.oneof(
      oneField('ref', fc.oneof(notString, badRef)),
      oneField('name', fc.oneof(notString, badArtifactName), good),
      oneField('name', fc.constant('tiny'), good),
      oneField('size', fc.oneof(notString, badSize, fc.constantFrom('1M', '63M', '1K', '100B')), good),
      oneField('platform', fc.oneof(notString, badPlatform), good),
      oneField('kernelRef', fc.stringMatching(/^[a-z]{1,10}$/), good),
      oneField('kernelRef', fc.stringMatching(/^[a-z]{1,10}$/), { ...good, kernel }),
      oneField('kernel', fc.oneof(notString, badPath), good),
      oneField('initrd', fc.constant(kernel), good),
      oneField('modules', fc.constant(h.home), good),
      oneField('initrd', fc.oneof(notString, badPath), { ...good, kernel }),
      fc.constant('{}'),
      unknownField(['ref', 'name', 'size', 'platform', 'kernelRef', 'kernel', 'initrd', 'modules']).map((b) => JSON.stringify({ ...good, ...b })),
    );
    await fc.assert(fc.asyncProperty(body(bad), (b) => expectRefused(socket, 'POST', q('/images/pull'), b, ['bad_request', 'not_found', 'already_exists'])), { ...RUNS, seed: 3401 });
    await nothingMade();
  });

  it('POST /images/:name/push and /images/build: unknown or registered images, bad references, recipes and names', async () => {
    const push = fc.oneof(
      fc.tuple(fc.stringMatching(/^[a-z]{1,10}$/).filter((n) => n !== 'tiny'), fc.constant(JSON.stringify({ ref: NOWHERE }))),
      fc.tuple(fc.constant('tiny'), fc.oneof(fc.constant(JSON.stringify({ ref: NOWHERE })), oneField('ref', fc.oneof(badRef, notString)), fc.constant('{}'))),
      fc.tuple(fc.constant('tiny'), fc.constant(JSON.stringify({ ref: `${NOWHERE.split(':v1')[0]}@sha256:${'a'.repeat(64)}` }))),
      fc.tuple(fc.constant('tiny'), unknownField(['ref']).map((b) => JSON.stringify({ ref: NOWHERE, ...b }))),
    ).map(([name, b]) => ['POST', `/images/${encodeURIComponent(name)}/push`, b] as const);
    const build = fc.oneof(
      oneField('recipe', fc.oneof(notString, fc.stringMatching(/^[a-z0-9-]{1,20}$/).filter((r) => r !== 'debian-bookworm'))),
      oneField('name', fc.oneof(notString, badArtifactName), { recipe: 'debian-bookworm' }),
      oneField('name', fc.constant('tiny'), { recipe: 'debian-bookworm' }),
      unknownField(['recipe', 'name']).map((b) => JSON.stringify(b)),
    ).map((b) => ['POST', '/images/build', b] as const);
    const req = fc.oneof(push, build, fc.oneof(notObject, notJson).map((b) => ['POST', '/images/build', b] as const));
    await fc.assert(fc.asyncProperty(req, ([method, path, b]) => expectRefused(socket, method, q(path), b, ['bad_request', 'not_found', 'already_exists'])), { ...RUNS, numRuns: 600, seed: 3402 });
    // Refused before an operation starts: the answer itself is the error.
    assert.equal((await rawRequest(socket, 'POST', q('/images/build'), '{"recipe":"gentoo-9000"}')).status, 404);
    assert.equal((await rawRequest(socket, 'POST', q('/images/tiny/push'), JSON.stringify({ ref: NOWHERE }))).status, 400);
    assert.equal((await rawRequest(socket, 'POST', q('/images/ghost/push'), JSON.stringify({ ref: NOWHERE }))).status, 404);
    await nothingMade();
  });

  it('POST /kernels/:name/pull and /images/cache/prune: bad names and bodies', async () => {
    const kernelName = fc.oneof(badArtifactName, fc.stringMatching(/^[a-z]{1,10}$/).filter((n) => n !== 'import'));
    const pull = fc.tuple(kernelName, fc.oneof(fc.constant('{}'), oneField('force', notBool), unknownField(['force']).map((b) => JSON.stringify(b)), notObject, notJson));
    const prune = fc.oneof(oneField('dryRun', notBool), unknownField(['dryRun']).map((b) => JSON.stringify(b)), notObject, notJson);
    const req = fc.oneof(
      pull.map(([n, b]) => ['POST', `/kernels/${encodeURIComponent(n)}/pull`, b] as const),
      prune.map((b) => ['POST', '/images/cache/prune', b] as const),
    );
    await fc.assert(fc.asyncProperty(req, ([method, path, b]) => expectRefused(socket, method, q(path), b, ['bad_request', 'not_found'])), { ...RUNS, numRuns: 600, seed: 3403 });
    await nothingMade();
  });

  it('routes that take no body refuse any field or any body that is not an object, and do nothing', async () => {
    const routes = fc.constantFrom(
      ['POST', '/shutdown'], ['POST', '/ssh-config'], ['POST', '/vms/prune'], ['DELETE', '/pool'], ['POST', '/images/tiny/promote'], ['DELETE', '/images/tiny'],
      ['DELETE', '/kernels/none'], ['DELETE', '/operations/op-none'], ['DELETE', '/snapshots/none'], ['POST', '/vms/none/start'], ['POST', '/vms/none/pause'], ['DELETE', '/vms/none'],
    );
    const extra = fc.oneof(unknownField([]).map((b) => JSON.stringify(b)), notObject, notJson);
    await fc.assert(fc.asyncProperty(routes, extra, ([method, path], b) => expectRefused(socket, method, q(path), b, ['bad_request'])), { ...RUNS, numRuns: 600, seed: 3404 });
    await nothingMade();
  });
});
