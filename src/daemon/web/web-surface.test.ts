/**
 * What the web UI's listener answers to, signed in: the API under /v1, the terminal websocket under
 * /terminal, and the built assets; nothing else (no path leaves the assets, however it is spelled), and
 * a root daemon does not read host files a request over the listener names.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROUTES } from '../../api/routes.js';
import { writeTinyImageFiles } from '../../testing/tiny-image.js';
import { webHome, webRequest, type WebHome } from '../../testing/web-home.js';

const ASSETS = new URL('../../web-assets/', import.meta.url);

describe('the web UI surface', () => {
  let w: WebHome;
  let cookie = '';
  let origin = '';
  const get = (path: string) => webRequest(w.listenAddr, 'GET', path, { Cookie: cookie });
  before(async () => {
    w = await webHome();
    const r = await webRequest(w.listenAddr, 'GET', `/?token=${w.token}`);
    cookie = String(r.headers['set-cookie']).split(';')[0]!;
    origin = `http://${w.listenAddr}`;
  });
  after(() => w?.h.cleanup());

  it('serves every built asset, and the page at /', async () => {
    const files = readdirSync(new URL('assets/', ASSETS));
    assert.ok(files.some((f) => /^main-.*\.js$/.test(f)), files.join(', '));
    for (const f of files) {
      const r = await get(`/assets/${f}`);
      assert.equal(r.status, 200, f);
      assert.match(String(r.headers['cache-control']), /immutable/);
    }
    assert.equal((await get('/index.html')).status, 200);
    assert.match((await get('/')).text, /<div id="app">/);
  });

  it('answers 404 to any other path, and to every way of walking out of the assets', async () => {
    const paths = [
      '/nope',
      '/assets',
      '/assets/',
      '/assets/nope.js',
      '/v1',
      '/v1x/vms',
      '/terminal',
      '/index.htm',
      '/etc/passwd',
      '/assets/../../etc/passwd',
      '/assets/../../../../../../etc/passwd',
      '/../../etc/passwd',
      '/assets/%2e%2e/%2e%2e/etc/passwd',
      '/assets/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd',
      '/assets/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/assets/..%5c..%5c..%5cetc%5cpasswd',
      '/assets/%252e%252e/%252e%252e/etc/passwd',
      '/assets/..;/..;/etc/passwd',
      '/%2e%2e/build-info.json',
      '/../build-info.json',
      '/../daemon/web/server.js',
      '/..%2fdaemon%2fweb%2fserver.js',
      '/../web-token',
      '//etc/passwd',
      '/assets//etc/passwd',
      `/assets/${'..%2f'.repeat(12)}etc/passwd`,
      '/index.html%00.js',
      '/assets/main.js%00',
    ];
    for (const path of paths) {
      const r = await get(path);
      assert.equal(r.status, 404, `${path} answered ${r.status}: ${r.text.slice(0, 120)}`);
      assert.doesNotMatch(r.text, /root:.*:0:0:|"commit"|createWebApp|[0-9a-f]{64}/, path);
      assert.match(r.text, /^no such page: |"no API route GET /, path);
    }
  });

  it('answers no other method on any path but the API', async () => {
    for (const [method, path] of [
      ['POST', '/'],
      ['PUT', '/index.html'],
      ['DELETE', '/assets/x.js'],
      ['POST', '/terminal/x'],
      ['PATCH', '/nope'],
    ] as const) {
      const r = await webRequest(w.listenAddr, method, path, { Cookie: cookie, Origin: origin });
      assert.equal(r.status, 404, `${method} ${path} answered ${r.status}`);
    }
  });

  it('the terminal path is a websocket only', async () => {
    const r = await get('/terminal/nope');
    assert.equal(r.status, 404, `GET /terminal/nope without an upgrade answered ${r.status}`);
  });

  it('a root daemon does not read host files a request over the listener names (image register, kernel import)', { skip: process.geteuid?.() === 0 ? false : 'the daemon does not run as root' }, async () => {
    const dir = join(w.h.home, 'web-files');
    mkdirSync(dir);
    const files = await writeTinyImageFiles(dir);
    const headers = { Cookie: cookie, Origin: origin, 'Content-Type': 'application/json' };
    const register = await webRequest(w.listenAddr, 'POST', '/v1/images/register', headers, JSON.stringify({ name: 'viaweb', rootfs: files.rootfs, kernel: files.kernel }));
    assert.equal(register.status, 400, register.text);
    assert.match(JSON.parse(register.text).message as string, /runs as root and reads files a request names only for requests over its unix socket/);
    const imp = await webRequest(w.listenAddr, 'POST', '/v1/kernels/import', headers, JSON.stringify({ name: 'viaweb', kernel: files.kernel }));
    assert.equal(imp.status, 400, imp.text);
    assert.match(JSON.parse(imp.text).message as string, /only for requests over its unix socket/);
    const client = w.h.client();
    assert.deepEqual((await client.call(ROUTES.imageList, {})).map((i) => i.name), ['tiny'], 'nothing was registered');
    assert.deepEqual(await client.call(ROUTES.kernelList, {}), [], 'nothing was imported');
    // The same request over the unix socket, from root, is read.
    const viaSocket = await client.call(ROUTES.imageRegister, {}, { name: 'viasocket', rootfs: files.rootfs, kernel: files.kernel });
    assert.equal(viaSocket.name, 'viasocket');
  });
});
