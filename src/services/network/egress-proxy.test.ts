/**
 * The user-mode egress proxy with real sockets: a guest-side client speaks HTTP proxy requests into a
 * VM's unix socket, an upstream HTTP server answers on loopback. Only loopback can be served here, so
 * 127.0.0.1 stands for "outside" (the `forbidden` seam); 127.0.0.2 stands for the host itself.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { parseAllowList } from '../../model/egress.js';
import { EgressProxy, isHostOrSpecial, type EgressPolicy } from './egress-proxy.js';

const NAMES: Record<string, string[]> = { 'up.example': ['127.0.0.1'], 'inside.example': ['127.0.0.2'], 'both.example': ['127.0.0.2', '127.0.0.1'], 'other.example': ['127.0.0.1'] };

describe('egress proxy', () => {
  let dir = '';
  let upstream: Server;
  let port = 0;
  let socket = '';
  const proxy = new EgressProxy({
    resolve: (name) => (NAMES[name] ? Promise.resolve(NAMES[name]) : Promise.reject(new Error('ENOTFOUND'))),
    hostAddresses: () => [],
    forbidden: (a) => a !== '127.0.0.1',
  });
  const policy = (p: Partial<EgressPolicy>): EgressPolicy => ({ vmName: 'box', nat: false, ...p });

  before(async () => {
    dir = mkdtempSync('/tmp/bep-');
    socket = join(dir, 'run', 'egress.sock');
    upstream = createServer((req, res) => res.end(`upstream-ok ${req.method} ${req.url} host=${req.headers.host} proxyconn=${String(req.headers['proxy-connection'] ?? '-')}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as AddressInfo).port;
    await proxy.listen('vm1', socket, policy({}));
  });
  after(async () => {
    await proxy.closeAll();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A plain-http request through the proxy, as curl with http_proxy sends it. */
  const get = (url: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ socketPath: socket, path: url, headers: { host: url.startsWith('http') ? new URL(url).host : 'box', 'proxy-connection': 'keep-alive' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  /** A CONNECT tunnel, then one HTTP request through it. */
  const tunnel = (target: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ socketPath: socket, method: 'CONNECT', path: target });
      req.on('connect', (res, s: Socket) => {
        if (res.statusCode !== 200) {
          let body = '';
          s.on('data', (d: Buffer) => (body += d.toString()));
          s.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          s.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
          return;
        }
        let body = '';
        s.on('data', (d: Buffer) => (body += d.toString()));
        s.on('end', () => resolve({ status: 200, body }));
        s.write(`GET /tunnelled HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`);
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('tells what is the host itself or no single remote host', () => {
    for (const a of ['127.0.0.1', '127.77.1.2', '::1', '::ffff:127.0.0.1', '0.0.0.0', '::', '169.254.169.254', '224.0.0.1', 'fe80::1', 'not-an-address']) {
      assert.equal(isHostOrSpecial(a), true, a);
    }
    assert.equal(isHostOrSpecial('192.168.1.5', ['192.168.1.5']), true, 'an address of the host');
    assert.equal(isHostOrSpecial('fe80::5', ['fe80::5%eth0']), true, 'a scoped address of the host');
    for (const a of ['93.184.216.34', '10.231.7.2', '2001:db8::1', '192.168.1.6']) assert.equal(isHostOrSpecial(a, ['192.168.1.5']), false, a);
  });

  it('without --nat and allowlist every request is refused, saying how to open it', async () => {
    const r = await get(`http://up.example:${port}/a`);
    assert.equal(r.status, 403);
    assert.match(r.body, /vm box has no egress.*banger vm set box --nat/);
    assert.equal((await tunnel(`up.example:${port}`)).status, 403);
  });

  it('with --nat (changed live) plain requests and CONNECT tunnels reach the outside; proxy headers are not passed on', async () => {
    proxy.setPolicy('vm1', policy({ nat: true }));
    const r = await get(`http://up.example:${port}/a?b=1`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, `upstream-ok GET /a?b=1 host=up.example:${port} proxyconn=-`);
    const t = await tunnel(`up.example:${port}`);
    assert.equal(t.status, 200);
    assert.match(t.body, /upstream-ok GET \/tunnelled/);
    assert.equal((await get(`http://both.example:${port}/`)).status, 200, 'the outside address of a name that also has a host address');
  });

  it('never reaches the host itself, by name or by address, and says so; an unknown name is a bad gateway', async () => {
    const byName = await get(`http://inside.example:${port}/`);
    assert.equal(byName.status, 403);
    assert.match(byName.body, /inside\.example is the host itself \(127\.0\.0\.2\)/);
    assert.equal((await get(`http://127.0.0.2:${port}/`)).status, 403);
    assert.equal((await tunnel(`127.0.0.2:${port}`)).status, 403);
    assert.equal((await get(`http://nowhere.example:${port}/`)).status, 502);
  });

  it('an allowlist admits only its names and addresses', async () => {
    proxy.setPolicy('vm1', policy({ nat: false, allow: parseAllowList(['up.example']) }));
    assert.equal((await get(`http://up.example:${port}/`)).status, 200);
    const other = await get(`http://other.example:${port}/`);
    assert.equal(other.status, 403);
    assert.match(other.body, /other\.example is not in the allowlist of vm box.*--allow other\.example/);
    assert.equal((await tunnel(`127.0.0.1:${port}`)).status, 403, 'an address outside the allowlist');
    proxy.setPolicy('vm1', policy({ nat: false, allow: parseAllowList(['127.0.0.0/8']) }));
    assert.equal((await tunnel(`127.0.0.1:${port}`)).status, 200, 'an address inside an allowed CIDR');
    assert.equal((await get(`http://127.0.0.2:${port}/`)).status, 403, 'the host itself, even inside an allowed CIDR');
  });

  it('records what was allowed and refused, with counts and addresses', () => {
    const log = proxy.log('vm1')!;
    const up = log.allowed.find((r) => r.name === `up.example:${port}`);
    assert.ok(up && up.count >= 3, JSON.stringify(log.allowed));
    assert.deepEqual(up.addresses, ['127.0.0.1']);
    const other = log.denied.find((r) => r.name === `other.example:${port}`);
    assert.equal(other?.count, 1);
    assert.ok(log.denied.some((r) => r.name === `inside.example:${port}`));
  });

  it('answers a request that is not a proxy request with how to use it', async () => {
    const r = await get('/just-a-path');
    assert.equal(r.status, 400);
    assert.match(r.body, /egress proxy: use it as http_proxy/);
  });

  it('close removes the socket and forgets the VM', async () => {
    await proxy.close('vm1');
    assert.equal(existsSync(socket), false);
    assert.equal(proxy.log('vm1'), undefined);
    await assert.rejects(get(`http://up.example:${port}/`));
  });
});
