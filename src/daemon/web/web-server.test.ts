import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { ROUTES } from '../../api/routes.js';
import type { LiveEvent, VMInfo } from '../../api/types.js';
import { resolveConfig } from '../../config/load.js';
import { freeLoopbackPort } from '../../system/net.js';
import { CliHarness } from '../../testing/cli-harness.js';
import { webHome, webRequest, type WebHome } from '../../testing/web-home.js';

/** Reads server-sent events from the web server until `until` says stop. */
function readEvents(listenAddr: string, cookie: string, until: (ev: LiveEvent, all: LiveEvent[]) => boolean, onOpen: () => Promise<void>): Promise<LiveEvent[]> {
  const sep = listenAddr.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const seen: LiveEvent[] = [];
    const req = request({ host: listenAddr.slice(0, sep), port: Number(listenAddr.slice(sep + 1)), path: '/v1/events', headers: { Host: listenAddr, Cookie: cookie } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`events: HTTP ${res.statusCode}`));
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (block.startsWith(': connected')) void onOpen().catch(reject);
          if (!data) continue;
          const ev = JSON.parse(data) as LiveEvent;
          seen.push(ev);
          if (until(ev, seen)) {
            req.destroy();
            resolve(seen);
          }
        }
      });
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`no matching event; saw ${JSON.stringify(seen.map((e) => e.type))}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('the web UI server', () => {
  let w: WebHome;
  let cookie = '';
  before(async () => {
    w = await webHome();
  });
  after(() => w?.h.cleanup());

  it('keeps a 64-hex token in the state directory, readable by its owner only', () => {
    const st = statSync(w.h.layout.webTokenPath);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(readFileSync(w.h.layout.webTokenPath, 'utf8').trim(), w.token);
    assert.match(w.token, /^[0-9a-f]{64}$/);
    assert.equal(new URL(w.url).host, w.listenAddr);
  });

  it('refuses every request without the token or its cookie (401)', async () => {
    for (const path of ['/', '/index.html', '/v1/vms', '/v1/events', '/nope']) {
      const r = await webRequest(w.listenAddr, 'GET', path);
      assert.equal(r.status, 401, path);
      assert.match(r.text, /banger web/);
    }
    assert.equal((await webRequest(w.listenAddr, 'GET', `/?token=${'0'.repeat(64)}`)).status, 401, 'a wrong token');
    assert.equal((await webRequest(w.listenAddr, 'GET', '/v1/vms', { Cookie: `banger_web=${'0'.repeat(64)}` })).status, 401, 'a wrong cookie');
  });

  it('trades the token for an HttpOnly SameSite=Strict cookie and drops it from the URL', async () => {
    const r = await webRequest(w.listenAddr, 'GET', `/?token=${w.token}&x=1`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/?x=1');
    const set = String(r.headers['set-cookie']);
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    cookie = set.split(';')[0]!;
    const page = await webRequest(w.listenAddr, 'GET', '/', { Cookie: cookie });
    assert.equal(page.status, 200);
    assert.match(page.text, /<div id="app">/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
  });

  it('answers only to its own Host (DNS rebinding): 403 otherwise', async () => {
    const evil = await webRequest(w.listenAddr, 'GET', '/v1/vms', { Cookie: cookie, Host: `evil.example:${w.listenAddr.split(':')[1]}` });
    assert.equal(evil.status, 403);
    assert.equal((await webRequest(w.listenAddr, 'GET', `/?token=${w.token}`, { Host: 'attacker.test' })).status, 403, 'even with the token');
    const local = await webRequest(w.listenAddr, 'GET', '/v1/vms', { Cookie: cookie, Host: `localhost:${w.listenAddr.split(':')[1]}` });
    assert.equal(local.status, 200);
  });

  it('serves the socket API under /v1 with the same handlers', async () => {
    const web = await webRequest(w.listenAddr, 'GET', '/v1/images', { Cookie: cookie });
    assert.equal(web.status, 200);
    const viaSocket = await w.h.client().call(ROUTES.imageList, {});
    assert.deepEqual(JSON.parse(web.text), JSON.parse(JSON.stringify(viaSocket)));
    const bad = await webRequest(w.listenAddr, 'POST', '/v1/vms', { Cookie: cookie, Origin: `http://${w.listenAddr}`, 'Content-Type': 'application/json' }, '{"bogus":1}');
    assert.equal(bad.status, 400, 'the API parser answers');
    assert.match(JSON.parse(bad.text).message as string, /bogus/);
  });

  it('refuses changes from another origin or without one (403)', async () => {
    const headers = { Cookie: cookie, 'Content-Type': 'application/json' };
    assert.equal((await webRequest(w.listenAddr, 'POST', '/v1/vms', { ...headers, Origin: 'http://evil.example' }, '{}')).status, 403);
    assert.equal((await webRequest(w.listenAddr, 'POST', '/v1/vms', headers, '{}')).status, 403, 'no Origin');
    assert.equal((await webRequest(w.listenAddr, 'DELETE', '/v1/images/tiny', { ...headers, Origin: 'null' })).status, 403);
    assert.equal((await w.h.client().call(ROUTES.imageList, {})).length, 1, 'the image is still there');
  });

  it('refuses a websocket upgrade without the cookie (401) or from another origin (403)', async () => {
    const ws = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    const origin = `http://${w.listenAddr}`;
    assert.equal((await upgradeStatus(w.listenAddr, '/terminal/x', { ...ws, Origin: origin })), 401);
    assert.equal((await upgradeStatus(w.listenAddr, '/terminal/x', { ...ws, Cookie: cookie, Origin: 'http://evil.example' })), 403);
  });

  it('streams VM changes and operations as server-sent events', async () => {
    const client = w.h.client();
    let opId = '';
    const events = await readEvents(
      w.listenAddr,
      cookie,
      (ev) => ev.type === 'vm' && ev.vm.name === 'live' && ev.vm.state === 'running',
      async () => {
        opId = (await client.start(ROUTES.vmCreate, {}, { name: 'live' })).opId;
      },
    );
    const states = events.filter((e): e is { type: 'vm'; vm: VMInfo } => e.type === 'vm').map((e) => e.vm.state);
    assert.ok(states.includes('starting'), `states seen: ${states.join(',')}`);
    assert.equal(states.at(-1), 'running');
    assert.ok(events.some((e) => e.type === 'operation' && e.operation.id === opId && e.operation.kind === 'vm.create'), 'the create operation is announced');
    const gone = await readEvents(w.listenAddr, cookie, (ev) => ev.type === 'vm_deleted', async () => {
      await client.start(ROUTES.vmDelete, { name: 'live' });
    });
    assert.deepEqual(gone.at(-1), { type: 'vm_deleted', id: (gone.find((e) => e.type === 'vm_deleted') as { id: string }).id, name: 'live' });
  });
});

function upgradeStatus(listenAddr: string, path: string, headers: Record<string, string>): Promise<number> {
  const sep = listenAddr.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request({ host: listenAddr.slice(0, sep), port: Number(listenAddr.slice(sep + 1)), path, headers: { Host: listenAddr, ...headers } });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('turning the web UI on', () => {
  it('accepts only loopback addresses for web_listen_addr', () => {
    for (const bad of ['0.0.0.0:7777', '192.168.1.2:7777', '127.0.0.1', '127.0.0.1:0', 'localhost:7777']) {
      assert.throws(() => resolveConfig({ web_listen_addr: bad }, '/x/config.toml', {}), /web_listen_addr.*loopback/s, bad);
    }
    assert.equal(resolveConfig({ web_listen_addr: '127.0.0.2:7777' }, '/x/config.toml', {}).config.web_listen_addr, '127.0.0.2:7777');
  });

  it('banger web says how to turn it on when web_listen_addr is empty', async () => {
    const h = new CliHarness();
    try {
      const r = await h.run(['web']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /web UI is off/);
      assert.match(r.stderr, /web_listen_addr = "127\.0\.0\.1:7777"/);
      const j = await h.run(['--json', 'web']);
      assert.equal(j.code, 0, j.stderr);
      assert.deepEqual(JSON.parse(j.stdout), { enabled: false, listenAddr: '' });
    } finally {
      await h.cleanup();
    }
  });

  it('banger web --open hands the printed URL to $BROWSER, and says what to do when there is no browser', async () => {
    const h = new CliHarness();
    const dir = mkdtempSync(join(tmpdir(), 'bweb-'));
    try {
      writeFileSync(join(h.home, 'config.toml'), `web_listen_addr = "127.0.0.1:${await freeLoopbackPort()}"\n`);
      const got = join(dir, 'opened');
      const browser = join(dir, 'browser');
      writeFileSync(browser, `#!/bin/sh\nprintf '%s' "$1" > ${got}.tmp && mv ${got}.tmp ${got}\n`, { mode: 0o755 });
      const r = await h.run(['web', '--open'], { BROWSER: browser });
      assert.equal(r.code, 0, r.stderr);
      const url = r.stdout.trim();
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
      const deadline = Date.now() + 10_000;
      while (!existsSync(got) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      assert.equal(readFileSync(got, 'utf8'), url);

      const none = await h.run(['web', '--open'], { BROWSER: '', PATH: join(dir, 'no-such-dir') });
      assert.equal(none.code, 5, none.stderr);
      assert.match(none.stderr, /no browser to open the URL with/);
      assert.ok(none.stderr.includes(url), none.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await h.cleanup();
    }
  });
});
