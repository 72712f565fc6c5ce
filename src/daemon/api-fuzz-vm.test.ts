/**
 * Malformed requests to the VM routes the first API fuzz suite does not cover (fast-check, fixed
 * seeds, 300+ cases per surface), through the real daemon (fake driver) over its unix socket: set and
 * egress, published ports, stop and kill, workspace records, snapshots, forks, sessions and their
 * query strings, and every VM sub-route's path parameters. Each is refused with the typed envelope
 * and a 4xx code (at once, or as the error of the operation it started); afterwards the daemon still
 * answers, the two VMs are as they were, and nothing was created.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { API_PREFIX, type VMInfo } from '../api/types.js';
import { anyJson, badSize, expectRefused, notBool, notInt, notJson, notObject, notString, notStringList, oneField, unknownField } from '../testing/api-fuzz.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { invariantViolations } from '../testing/invariants.js';
import { rawRequest } from '../testing/raw-http.js';
import { tinyImageHome } from '../testing/tiny-image.js';

const RUNS = { numRuns: 300, includeErrorInReport: true };
const body = (b: fc.Arbitrary<string>) => fc.oneof({ weight: 8, arbitrary: b }, { weight: 1, arbitrary: notObject }, { weight: 1, arbitrary: notJson });

/** Allow-list entries no parser takes: an invalid character, a bare label, a bad address or prefix, a misplaced wildcard. */
const badAllow = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }).filter((s) => /[^a-zA-Z0-9.*/\-,\s]/.test(s)),
  fc.stringMatching(/^[a-z]{1,10}$/),
  fc.tuple(fc.integer({ min: 256, max: 999 }), fc.nat(255)).map(([a, b]) => `${a}.${b}.0.0`),
  fc.integer({ min: 33, max: 99 }).map((p) => `10.0.0.0/${p}`),
  fc.constantFrom('', ' ', '*', '*.', '*.com', 'a*.example.com', '10.0.0.1/24', '10.0.0.0/0', '-x.example.com', 'example.123', '1.2.3'),
);
/** Port specs parsePortSpec refuses. */
const badPort = fc.oneof(
  fc.string({ maxLength: 8 }).filter((s) => !/^\s*(\d{1,5}:)?\d{1,5}\s*$/.test(s)),
  fc.integer({ min: 65536, max: 99999 }).map(String),
  fc.constantFrom('0', '0:80', '80:0', '80:', ':80', '1:2:3'),
);
const badSignal = fc.oneof(fc.string({ maxLength: 8 }).filter((s) => !/^\s*(sig)?(term|kill|int|hup|quit|usr1|usr2|stop|cont)\s*$/i.test(s)), fc.constantFrom('SIGSEGV', '9', 'SIG', 'KILLL'));
const badVMName = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => /[^a-z0-9-]/.test(s)), fc.constantFrom('-a', 'a-', 'x'.repeat(64), '0123456789ab'));

describe('the VM routes refuse malformed requests with the typed envelope and change nothing', () => {
  let h: CliHarness;
  let socket = '';
  let before_: VMInfo[] = [];
  const q = (s: string) => `${API_PREFIX}${s}`;

  before(async () => {
    h = await tinyImageHome();
    socket = h.layout.socketPath;
    for (const args of [['vm', 'create', '--name', 'up'], ['vm', 'create', '--name', 'down', '--no-start']]) {
      const r = await h.run(args);
      assert.equal(r.code, 0, r.stderr);
    }
    before_ = (await rawRequest(socket, 'GET', q('/vms'))).json() as VMInfo[];
  });
  after(() => h.cleanup());

  /** The daemon answers, the VMs are as they were (state, spec, workspace), and nothing new exists. */
  async function unchanged(): Promise<void> {
    const r = await rawRequest(socket, 'GET', q('/vms'));
    assert.equal(r.status, 200, 'the daemon still answers');
    const strip = (vms: VMInfo[]) => vms.map((v) => ({ name: v.name, state: v.state, spec: v.spec, workspace: v.workspace })).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(strip(r.json() as VMInfo[]), strip(before_));
    assert.deepEqual((await rawRequest(socket, 'GET', q('/snapshots'))).json(), []);
    assert.deepEqual((await rawRequest(socket, 'GET', q('/vms/up/sessions'))).json(), []);
    assert.equal(readdirSync(h.layout.vmsDir).length, 2);
    assert.deepEqual(invariantViolations(h.layout), []);
  }

  it('PATCH /vms/:name (set, NAT and egress): wrong types, out-of-range values, a shrinking disk, bad allow and deny entries', async () => {
    const bad = fc.oneof(
      oneField('vcpu', fc.oneof(notInt, fc.integer({ max: 0 }), fc.integer({ min: 65, max: 2 ** 31 }))),
      oneField('memoryMiB', fc.oneof(notInt, fc.integer({ max: 63 }), fc.integer({ min: 1 << 24, max: 2 ** 40 }))),
      oneField('diskSize', fc.oneof(badSize, notString, fc.constantFrom('64M', '100M', '1K', '17T'))),
      oneField('nat', notBool),
      oneField('allow', fc.oneof(notStringList, fc.array(badAllow, { minLength: 1, maxLength: 3 }))),
      oneField('deny', fc.oneof(notStringList, fc.array(badAllow, { minLength: 1, maxLength: 3 }))),
      fc.tuple(fc.constantFrom('allow', 'deny'), badAllow, fc.constantFrom('example.com', '10.0.0.0/8')).map(([k, b, g]) => JSON.stringify({ [k]: [g, b] })),
      unknownField(['vcpu', 'memoryMiB', 'diskSize', 'nat', 'allow', 'deny']).map((b) => JSON.stringify(b)),
      fc.constantFrom('{}', 'null', '{"vcpu":null}'),
    );
    const target = fc.constantFrom('down', 'up');
    await fc.assert(fc.asyncProperty(target, body(bad), (vm, b) => expectRefused(socket, 'PATCH', q(`/vms/${vm}`), b, ['bad_request'])), { ...RUNS, seed: 2401 });
    await unchanged();
  });

  it('POST /vms/:name/ports, /stop and /kill: bad port specs, host ports, timeouts and signals', async () => {
    const forward = fc.oneof(
      oneField('add', fc.oneof(notStringList, fc.array(badPort, { minLength: 1, maxLength: 3 }), fc.constant(['8080:80', '8080:81']))),
      oneField('remove', fc.oneof(notStringList.filter((v) => !Array.isArray(v)), fc.array(fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 65536 }), fc.double({ noInteger: true }), fc.string()), { minLength: 1, maxLength: 3 }))),
      fc.constantFrom('{}', '{"add":[],"remove":[]}', '{"add":null}'),
      unknownField(['add', 'remove']).map((b) => JSON.stringify(b)),
    );
    const stop = fc.oneof(oneField('timeoutSeconds', fc.oneof(notInt, fc.integer({ max: 0 }), fc.integer({ min: 3601 }))), unknownField(['timeoutSeconds']).map((b) => JSON.stringify(b)));
    const kill = fc.oneof(oneField('signal', fc.oneof(notString, badSignal)), unknownField(['signal']).map((b) => JSON.stringify(b)));
    const req = fc.oneof(
      fc.tuple(fc.constant('/ports'), body(forward)),
      fc.tuple(fc.constant('/stop'), body(stop)),
      fc.tuple(fc.constant('/kill'), body(kill)),
    );
    await fc.assert(fc.asyncProperty(req, ([path, b]) => expectRefused(socket, 'POST', q(`/vms/up${path}`), b, ['bad_request'])), { ...RUNS, numRuns: 900, seed: 2402 });
    await unchanged();
  });

  it('POST /vms/:name/workspace: relative, root or dotted paths, short commits, wrong types', async () => {
    const good = { sourcePath: '/src/repo', guestPath: '/root/repo', headCommit: 'a'.repeat(40), preparedCommit: 'b'.repeat(40) };
    const badCommit = fc.oneof(notString, fc.string({ maxLength: 39 }), fc.stringMatching(/^[0-9a-f]{41,63}$/), fc.stringMatching(/^[0-9A-Fg-z]{40}$/).filter((s) => /[^0-9a-f]/.test(s)));
    const badGuest = fc.oneof(notString, fc.constantFrom('', '/', '//', 'root/repo', '/root/../etc', '/root/./x', '/a\nb', '/a\u0000b'), fc.string({ maxLength: 10 }).filter((s) => !s.startsWith('/')));
    const bad = fc.oneof(
      oneField('sourcePath', fc.oneof(notString, fc.constantFrom('', 'relative/repo', './repo')), good),
      oneField('guestPath', badGuest, good),
      oneField('headCommit', badCommit, good),
      oneField('preparedCommit', badCommit, good),
      oneField('branch', notString, good),
      oneField('includeUntracked', notBool, good),
      fc.constantFrom('sourcePath', 'guestPath', 'headCommit', 'preparedCommit').map((k) => {
        const b: Record<string, unknown> = { ...good };
        delete b[k];
        return JSON.stringify(b);
      }),
      unknownField(Object.keys(good).concat('branch', 'includeUntracked')).map((b) => JSON.stringify({ ...good, ...b })),
    );
    await fc.assert(fc.asyncProperty(fc.constantFrom('up', 'down'), body(bad), (vm, b) => expectRefused(socket, 'POST', q(`/vms/${vm}/workspace`), b, ['bad_request'])), { ...RUNS, seed: 2403 });
    await unchanged();
  });

  it('POST /vms/:name/snapshots and /fork: bad names, counts, prefixes and branches', async () => {
    const snap = fc.oneof(oneField('name', fc.oneof(notString, badVMName)), oneField('stop', notBool), unknownField(['name', 'stop']).map((b) => JSON.stringify(b)));
    const fork = fc.oneof(
      oneField('count', fc.oneof(notInt, fc.integer({ max: 0 }), fc.integer({ min: 17 }))),
      oneField('namePrefix', fc.oneof(notString, fc.string({ minLength: 1, maxLength: 12 }).filter((s) => /[^a-z0-9-]/.test(s)), fc.constantFrom('-a', 'x'.repeat(62)))),
      oneField('branch', notString),
      unknownField(['count', 'namePrefix', 'branch']).map((b) => JSON.stringify(b)),
    );
    const req = fc.oneof(fc.tuple(fc.constant('/snapshots'), body(snap)), fc.tuple(fc.constant('/fork'), body(fork)));
    // "down" is stopped: a well-formed snapshot of it is not_running, so every case here must be refused.
    await fc.assert(fc.asyncProperty(fc.constantFrom('up', 'down'), req, (vm, [path, b]) => expectRefused(socket, 'POST', q(`/vms/${vm}${path}`), b, ['bad_request', 'not_running'])), { ...RUNS, numRuns: 600, seed: 2404 });
    await unchanged();
  });

  it('sessions: bad start, stop, kill and input bodies, and bad output queries', async () => {
    const start = fc.oneof(
      oneField('command', fc.oneof(anyJson.filter((v) => !Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')), fc.constant([]), fc.constant(['']), fc.constant(['  ', 'x']))),
      oneField('cwd', fc.oneof(notString, fc.constantFrom('relative', '/a/../b', '..', '')), { command: ['true'] }),
      oneField('name', fc.oneof(notString, fc.string({ minLength: 1, maxLength: 10 }).filter((s) => /[^a-z0-9-]/.test(s)), fc.constant('x'.repeat(80))), { command: ['true'] }),
      unknownField(['name', 'command', 'cwd']).map((b) => JSON.stringify({ command: ['true'], ...b })),
    );
    const input = fc.oneof(oneField('data', fc.oneof(notString, fc.constant(''))), fc.constant('{}'), fc.constant(JSON.stringify({ data: 'x'.repeat(64 * 1024 + 1) })), unknownField(['data']).map((b) => JSON.stringify(b)));
    const stop = fc.oneof(oneField('timeoutSeconds', fc.oneof(notInt, fc.integer({ max: -1 }), fc.integer({ min: 3601 }))), unknownField(['timeoutSeconds']).map((b) => JSON.stringify(b)));
    const kill = fc.oneof(oneField('signal', fc.oneof(notString, badSignal)), unknownField(['signal']).map((b) => JSON.stringify(b)));
    const query = fc.oneof(
      fc.tuple(fc.constantFrom('offset', 'tail'), fc.oneof(fc.string({ maxLength: 6 }).filter((s) => !/^\d{1,15}$/.test(s)), fc.constant('9'.repeat(16)))).map(([k, v]) => `${k}=${encodeURIComponent(v)}`),
      fc.string({ maxLength: 6 }).filter((s) => !['', '0', '1', 'true', 'false'].includes(s)).map((v) => `follow=${encodeURIComponent(v)}`),
      fc.constant('offset=1&tail=1'),
      fc.stringMatching(/^[a-z]{1,8}$/).filter((k) => !['offset', 'tail', 'follow'].includes(k)).map((k) => `${k}=1`),
    );
    const req = fc.oneof(
      fc.tuple(fc.constant('POST'), fc.constant('/sessions'), body(start)),
      fc.tuple(fc.constant('POST'), fc.constant('/sessions/s1/input'), body(input)),
      fc.tuple(fc.constant('POST'), fc.constant('/sessions/s1/stop'), body(stop)),
      fc.tuple(fc.constant('POST'), fc.constant('/sessions/s1/kill'), body(kill)),
      fc.tuple(fc.constant('GET'), query.map((s) => `/sessions/s1/logs?${s}`), fc.constant(undefined)),
    );
    await fc.assert(fc.asyncProperty(req, ([method, path, b]) => expectRefused(socket, method, q(`/vms/up${path}`), b, ['bad_request'])), { ...RUNS, numRuns: 1500, seed: 2405 });
    await unchanged();
  });

  it('path parameters: unknown VMs, sessions, snapshots and operations on every sub-route, and bad yes/no queries', async () => {
    const taken = new Set(['up', 'down', 'prune']);
    const ref = fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }), badVMName).filter((s) => !taken.has(s) && s !== '.' && s !== '..');
    const routes = fc.constantFrom(
      ['POST', '/vms/:x/pause'], ['POST', '/vms/:x/resume'], ['POST', '/vms/:x/suspend'], ['GET', '/vms/:x/health'], ['GET', '/vms/:x/ports'], ['POST', '/vms/:x/ports'],
      ['GET', '/vms/:x/egress'], ['POST', '/vms/:x/workspace'], ['GET', '/vms/:x/workspace/diff'], ['POST', '/vms/:x/snapshots'], ['POST', '/vms/:x/fork'],
      ['GET', '/vms/:x/sessions'], ['POST', '/vms/:x/sessions'], ['GET', '/vms/up/sessions/:x'], ['DELETE', '/vms/up/sessions/:x'], ['POST', '/vms/up/sessions/:x/stop'],
      ['POST', '/vms/up/sessions/:x/kill'], ['POST', '/vms/up/sessions/:x/input'], ['GET', '/vms/up/sessions/:x/logs'], ['GET', '/snapshots/:x'], ['DELETE', '/snapshots/:x'], ['GET', '/operations/:x/events'],
    );
    const bodies: Record<string, string> = {
      '/vms/:x/ports': '{"add":["8080"]}',
      '/vms/:x/workspace': JSON.stringify({ sourcePath: '/s', guestPath: '/root/r', headCommit: 'a'.repeat(40), preparedCommit: 'a'.repeat(40) }),
      '/vms/:x/sessions': '{"command":["true"]}',
      '/vms/up/sessions/:x/input': '{"data":"x"}',
    };
    await fc.assert(
      fc.asyncProperty(routes, ref, async ([method, path], x) => {
        const b = method === 'GET' || method === 'DELETE' ? undefined : (bodies[path] ?? '{}');
        await expectRefused(socket, method, q(path.replace(':x', encodeURIComponent(x))), b, ['not_found', 'bad_request']);
      }),
      { ...RUNS, numRuns: 600, seed: 2406 },
    );
    const flag = fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !['0', '1', 'true', 'false'].includes(s));
    await fc.assert(fc.asyncProperty(flag, (v) => expectRefused(socket, 'GET', q(`/vms/up/workspace/diff?patch=${encodeURIComponent(v)}`), undefined, ['bad_request'])), { numRuns: 50, seed: 2407 });
    await unchanged();
  });
});
