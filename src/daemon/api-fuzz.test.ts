/**
 * Malformed requests through the real daemon (fake driver) over its unix socket, generated with
 * fast-check (fixed seeds, 300+ cases per surface): each gets the typed error envelope with a 4xx
 * status, the daemon keeps answering, and nothing is created.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ERROR_CODES, HTTP_STATUS, type ErrorCode } from '../api/errors.js';
import { API_PREFIX } from '../api/types.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { invariantViolations } from '../testing/invariants.js';
import { rawRequest } from '../testing/raw-http.js';
import { tinyImageHome } from '../testing/tiny-image.js';

const RUNS = { numRuns: 320 };

/** Values of every JSON type; used where a field wants another type. */
const anyJson = fc.jsonValue({ maxDepth: 2 });
const notString = anyJson.filter((v) => typeof v !== 'string' && v !== null);
const notInt = anyJson.filter((v) => v !== null && !(typeof v === 'number' && Number.isInteger(v)));
const notBool = anyJson.filter((v) => typeof v !== 'boolean' && v !== null);
const badName = fc.oneof(
  fc.constant(''),
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => /[^a-z0-9-]/.test(s)),
  fc.stringMatching(/^-[a-z]{1,5}$/),
  fc.stringMatching(/^[a-z]{64,70}$/),
  fc.stringMatching(/^[0-9a-f]{12}$/),
);
const badArtifactName = fc.oneof(
  fc.constant(''),
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(s) || s.includes('..')),
  fc.constantFrom('../etc', 'a/b', '.hidden', '-x', 'x'.repeat(64), 'a..b'),
);
const badSize = fc.oneof(fc.string({ maxLength: 10 }).filter((s) => !/^\s*\d+(\.\d+)?\s*([kmgt](i?b)?|b)?\s*$/i.test(s)), fc.constantFrom('0', '0G', '99999999999999T'));
const unknownKey = fc.stringMatching(/^[a-zA-Z_]{1,12}$/);
const notObject = fc.oneof(fc.array(anyJson, { maxLength: 3 }), fc.string(), fc.integer(), fc.boolean()).map((v) => JSON.stringify(v));
const notJson = fc.oneof(fc.constantFrom('{', '{"name":', '[1,', 'nul', '{"a":1}}', "{'name':'x'}"), fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((s) => { try { JSON.parse(s); return false; } catch { return true; } }));

/** A create body with one field wrong (the others may be fine), or a body that is not an object at all. */
const badCreate = fc.oneof(
  badName.filter((n) => n !== '').map((name) => ({ name })),
  notString.map((name) => ({ name })),
  notInt.map((vcpu) => ({ vcpu })),
  fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 65, max: 1 << 30 })).map((vcpu) => ({ vcpu })),
  fc.oneof(notInt, fc.integer({ max: 63 }), fc.integer({ min: 1 << 24, max: 2 ** 40 })).map((memoryMiB) => ({ memoryMiB })),
  fc.oneof(badSize, notString).map((diskSize) => ({ diskSize })),
  fc.oneof(badSize, notString).map((rootSize) => ({ rootSize })),
  notBool.map((nat) => ({ nat })),
  notBool.map((noStart) => ({ noStart, name: 'never' })),
  fc.tuple(unknownKey.filter((k) => !['name', 'image', 'vcpu', 'memoryMiB', 'diskSize', 'rootSize', 'nat', 'noStart'].includes(k)), anyJson).map(([k, v]) => ({ [k]: v })),
).map((b) => JSON.stringify(b));

describe('the API refuses malformed requests with the typed envelope and creates nothing', () => {
  let h: CliHarness;
  let socket = '';
  before(async () => {
    h = await tinyImageHome();
    socket = h.layout.socketPath;
  });
  after(() => h.cleanup());

  async function expectEnvelope(method: string, path: string, body: string | undefined, allowed: readonly ErrorCode[]): Promise<void> {
    const r = await rawRequest(socket, method, path, body);
    const what = `${method} ${path} ${body ?? ''} -> ${r.status} ${r.text}`;
    let env: { code?: unknown; message?: unknown };
    try {
      env = r.json() as typeof env;
    } catch {
      assert.fail(`not a JSON envelope: ${what}`);
    }
    assert.ok(ERROR_CODES.includes(env.code as ErrorCode), what);
    assert.ok(allowed.includes(env.code as ErrorCode), what);
    assert.ok(r.status >= 400 && r.status < 500, what);
    if (r.status !== 405 && r.status !== 413) assert.equal(r.status, HTTP_STATUS[env.code as ErrorCode], what);
    assert.equal(typeof env.message, 'string', what);
  }

  async function assertNothingMade(): Promise<void> {
    const vms = await rawRequest(socket, 'GET', `${API_PREFIX}/vms`);
    assert.equal(vms.status, 200, 'the daemon still answers');
    assert.deepEqual(vms.json(), []);
    const images = (await rawRequest(socket, 'GET', `${API_PREFIX}/images`)).json() as { name: string }[];
    assert.deepEqual(images.map((i) => i.name), ['tiny']);
    assert.deepEqual((await rawRequest(socket, 'GET', `${API_PREFIX}/kernels`)).json(), []);
    assert.deepEqual(readdirSync(h.layout.vmsDir), []);
    assert.deepEqual(invariantViolations(h.layout), []);
  }

  it('POST /vms: malformed create bodies', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(badCreate, notObject, notJson), (body) => expectEnvelope('POST', `${API_PREFIX}/vms`, body, ['bad_request'])), { ...RUNS, seed: 1401 });
    await assertNothingMade();
  });

  it('POST /images/register: malformed bodies and paths the daemon must not take', async () => {
    const rootfs = join(h.home, 'rootfs.ext4');
    const kernel = join(h.home, 'vmlinuz');
    const badPath = fc.oneof(
      fc.string({ maxLength: 20 }).filter((s) => !s.startsWith('/')),
      fc.constantFrom('/dev/null', '/etc/hostname', '/proc/self/environ', '/nonexistent/rootfs.ext4', '/', h.home, kernel),
      fc.stringMatching(/^\/tmp\/[a-z]{1,10}$/),
    );
    const body = fc.oneof(
      fc.record({ name: badArtifactName, rootfs: fc.constant(rootfs), kernel: fc.constant(kernel) }),
      fc.record({ name: fc.constant('fuzz'), rootfs: badPath, kernel: fc.constant(kernel) }),
      fc.record({ name: fc.constant('fuzz'), rootfs: fc.constant(rootfs), kernel: fc.oneof(badPath.filter((p) => p !== kernel), fc.constant(rootfs)) }),
      fc.record({ name: fc.constant('fuzz'), rootfs: fc.constant(rootfs), kernelRef: fc.string({ maxLength: 10 }) }),
      fc.record({ name: fc.constant('fuzz'), rootfs: fc.constant(rootfs), kernel: fc.constant(kernel), initrd: badPath.filter((p) => p !== kernel && p !== '/etc/hostname' && p !== '/dev/null' && p !== '/proc/self/environ') }),
      fc.record({ name: notString, rootfs: fc.constant(rootfs) }),
      fc.record({ name: fc.constant('tiny'), rootfs: fc.constant(rootfs), kernel: fc.constant(kernel) }),
    ).map((b) => JSON.stringify(b));
    await fc.assert(fc.asyncProperty(fc.oneof(body, notObject, notJson), (b) => expectEnvelope('POST', `${API_PREFIX}/images/register`, b, ['bad_request', 'not_found', 'already_exists'])), { ...RUNS, seed: 1402 });
    await assertNothingMade();
  });

  it('POST /kernels/import: malformed bodies', async () => {
    const body = fc.oneof(
      fc.record({ name: fc.oneof(notString, fc.constant('')) }, { requiredKeys: [] }),
      fc.record({ name: badArtifactName.filter((n) => n !== ''), kernel: fc.constant('/nonexistent') }),
      fc.record({ name: fc.constant('k'), deb: fc.string({ minLength: 1 }), kernel: fc.string({ minLength: 1 }) }),
      fc.record({ name: fc.constant('k') }),
      fc.record({ name: fc.constant('k'), kernel: notString }),
      fc.tuple(unknownKey.filter((k) => !['name', 'deb', 'kernel', 'initrd', 'modules'].includes(k)), anyJson).map(([k, v]) => ({ name: 'k', kernel: '/x', [k]: v })),
    ).map((b) => JSON.stringify(b));
    await fc.assert(fc.asyncProperty(fc.oneof(body, notObject, notJson), (b) => expectEnvelope('POST', `${API_PREFIX}/kernels/import`, b, ['bad_request'])), { ...RUNS, seed: 1403 });
    await assertNothingMade();
  });

  it('path parameters: unknown or malformed names on every VM, image and kernel route', async () => {
    const taken = new Set(['tiny', 'recipes', 'prune', 'register', 'import', 'build']);
    const ref = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), badName.filter((s) => s !== '')).filter((s) => !taken.has(s) && s !== '.' && s !== '..');
    const routes = fc.constantFrom(
      ['GET', '/vms/:x'], ['DELETE', '/vms/:x'], ['POST', '/vms/:x/start'], ['POST', '/vms/:x/stop'], ['POST', '/vms/:x/kill'], ['POST', '/vms/:x/restart'],
      ['PATCH', '/vms/:x'], ['GET', '/vms/:x/ssh'], ['GET', '/vms/:x/stats'], ['GET', '/vms/:x/logs'],
      ['GET', '/images/:x'], ['DELETE', '/images/:x'], ['POST', '/images/:x/promote'], ['GET', '/kernels/:x'], ['DELETE', '/kernels/:x'], ['GET', '/operations/:x'],
    );
    await fc.assert(
      fc.asyncProperty(routes, ref, async ([method, path], x) => {
        const body = method === 'PATCH' ? '{"vcpu":1}' : method === 'GET' ? undefined : '{}';
        await expectEnvelope(method, API_PREFIX + path.replace(':x', encodeURIComponent(x)), body, ['not_found', 'bad_request']);
      }),
      { ...RUNS, seed: 1404 },
    );
    await assertNothingMade();
  });
});
