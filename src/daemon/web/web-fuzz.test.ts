/**
 * The web UI's listener under generated requests (fast-check, fixed seeds, 300+ cases per surface):
 * a foreign Host is refused (403, or 400 from the HTTP parser for a malformed one), a wrong token or cookie is 401, a change from a foreign Origin is 403, any
 * path outside the assets and the API is 404 without reading a file, and malformed API bodies over
 * the listener get the typed 4xx envelope. Never a 500; afterwards the daemon answers with nothing
 * changed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ROUTES } from '../../api/routes.js';
import { expectRefused, notJson, notObject, unknownField } from '../../testing/api-fuzz.js';
import { invariantViolations } from '../../testing/invariants.js';
import { webHome, webRequest, type WebHome } from '../../testing/web-home.js';

const RUNS = { numRuns: 300, includeErrorInReport: true };

/** Header-safe text (printable ASCII). */
const printable = (max: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });
/** A path of encoded segments, sometimes with dot segments and doubled slashes. */
const pathArb = fc
  .array(fc.oneof(fc.string({ maxLength: 10 }).map(encodeURIComponent), fc.constantFrom('..', '.', '%2e%2e', '..%2f', '', 'assets', 'v1', 'terminal', 'etc', 'passwd')), { minLength: 1, maxLength: 6 })
  .map((parts) => '/' + parts.join('/'));
const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE');

describe('the web listener under generated requests', () => {
  let w: WebHome;
  let cookie = '';
  let origin = '';
  let hosts: Set<string>;
  before(async () => {
    w = await webHome();
    const r = await webRequest(w.listenAddr, 'GET', `/?token=${w.token}`);
    cookie = String(r.headers['set-cookie']).split(';')[0]!;
    origin = `http://${w.listenAddr}`;
    hosts = new Set([w.listenAddr, `localhost:${w.listenAddr.split(':')[1]}`]);
  });
  after(() => w?.h.cleanup());

  async function unchanged(): Promise<void> {
    const client = w.h.client();
    assert.deepEqual((await client.call(ROUTES.imageList, {})).map((i) => i.name), ['tiny'], 'the daemon answers and the tiny image is still there');
    assert.deepEqual(await client.call(ROUTES.vmList, {}), []);
    assert.deepEqual(invariantViolations(w.h.layout), []);
  }

  it('the gate: a foreign Host is 403, a wrong token or cookie 401, a change from a foreign Origin 403', async () => {
    const foreignHost = printable(30).filter((h) => h.trim() !== '' && !hosts.has(h.trim()));
    const wrong = printable(40).filter((t) => t !== w.token);
    const req = fc.oneof(
      fc.tuple(method, pathArb, foreignHost).map(([m, p, host]) => ({ m, p, headers: { Host: host, Cookie: cookie, Origin: `http://${host}` }, status: [400, 403] })),
      fc.tuple(method, pathArb, wrong).map(([m, p, t]) => ({ m, p: `${p}?token=${encodeURIComponent(t)}`, headers: {}, status: [401] })),
      fc.tuple(method, pathArb, wrong.filter((t) => !/[;,\s]/.test(t))).map(([m, p, c]) => ({ m, p, headers: { Cookie: `banger_web=${c}` }, status: [401] })),
      fc.tuple(fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE'), fc.constantFrom('/v1/shutdown', '/v1/vms', '/v1/images/tiny', '/v1/vms/prune'), printable(40).filter((o) => o !== origin)).map(([m, p, o]) => ({
        m,
        p,
        headers: { Cookie: cookie, ...(o === '' ? {} : { Origin: o }) },
        status: [403],
      })),
    );
    await fc.assert(
      fc.asyncProperty(req, async ({ m, p, headers, status }) => {
        const r = await webRequest(w.listenAddr, m, p, headers);
        assert.ok(status.includes(r.status), `${m} ${p} ${JSON.stringify(headers)} -> ${r.status} ${r.text.slice(0, 200)}`);
        assert.doesNotMatch(r.text, /<div id="app">|"opId"|"stopping"/, 'nothing is served or done');
      }),
      { ...RUNS, numRuns: 1200, seed: 4401 },
    );
    await unchanged();
  });

  it('signed in: any path outside the assets and the API is 404 and reads no file', async () => {
    // The server resolves dot segments (also %2e%2e) as a URL parser does; what a path resolves to decides what it is.
    const resolved = (p: string) => new URL(`http://x${p}`).pathname;
    const paths = pathArb.filter((p) => !/^\/(v1|assets)(\/|$)/.test(resolved(p)) && !['/', '/index.html'].includes(resolved(p)) && !resolved(p).startsWith('/terminal/'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE'), paths, async (m, p) => {
        const r = await webRequest(w.listenAddr, m, p, { Cookie: cookie, Origin: origin });
        assert.equal(r.status, 404, `${m} ${p} -> ${r.status} ${r.text.slice(0, 200)}`);
        assert.doesNotMatch(r.text, /root:.*:0:0:|"commit"|createWebApp/, p);
      }),
      { ...RUNS, seed: 4402 },
    );
    await unchanged();
  });

  it('signed in: malformed API bodies over the listener get the typed 4xx envelope', async () => {
    const routes = fc.constantFrom(['POST', '/v1/vms'], ['PATCH', '/v1/vms/x'], ['POST', '/v1/images/pull'], ['POST', '/v1/shutdown'], ['POST', '/v1/kernels/import'], ['POST', '/v1/images/register']);
    const bad = fc.oneof(notObject, notJson, unknownField(['name', 'ref', 'vcpu']).map((b) => JSON.stringify(b)));
    await fc.assert(
      fc.asyncProperty(routes, bad, async ([m, p], b) => {
        const r = await webRequest(w.listenAddr, m, p, { Cookie: cookie, Origin: origin, 'Content-Type': 'application/json' }, b);
        const env = JSON.parse(r.text) as { code?: string; message?: string };
        assert.equal(r.status, 400, `${m} ${p} ${b} -> ${r.status} ${r.text}`);
        assert.equal(env.code, 'bad_request');
        assert.equal(typeof env.message, 'string');
      }),
      { ...RUNS, seed: 4403 },
    );
    await expectRefused(w.h.layout.socketPath, 'GET', '/v1/vms/none', undefined, ['not_found']);
    await unchanged();
  });
});
