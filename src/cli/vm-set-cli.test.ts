/**
 * `vm set` egress flags on a running user-mode VM (fake driver): they apply at once, at the VM's
 * egress proxy socket, which a guest-side request is sent into here. No address outside the host can
 * be served in this test, so it checks refusals: no egress, the host itself, outside the allowlist
 * (the allowed path to an upstream is in src/e2e/user-net.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import type { EgressReport, VMInfo } from '../api/types.js';
import { vmFiles } from '../model/filenames.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';

/** What the guest's curl sends with http_proxy set, into the VM's proxy socket. */
function viaProxy(socketPath: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('vm set --nat/--no-nat/--allow in user mode (fake driver)', () => {
  let h: CliHarness;
  let socket = '';
  const show = async () => JSON.parse((await h.run(['--json', 'vm', 'show', 'box'])).stdout) as VMInfo;
  before(async () => {
    h = await tinyImageHome();
    const r = await h.run(['vm', 'create', '--name', 'box']);
    assert.equal(r.code, 0, r.stderr);
    socket = vmFiles(h.layout.vmsDir, (await show()).id).run.egressSocket;
  });
  after(async () => {
    await h.run(['vm', 'delete', 'box']);
    await h.cleanup();
  });

  it('a running user-mode VM has its egress proxy, which refuses everything without --nat', async () => {
    assert.equal((await show()).networkMode, 'user');
    assert.ok(existsSync(socket), socket);
    const r = await viaProxy(socket, 'http://192.0.2.1/');
    assert.equal(r.status, 403);
    assert.match(r.body, /vm box has no egress.*banger vm set box --nat/);
  });

  it('--nat applies at once, and the host itself stays out of reach', async () => {
    const r = await h.run(['vm', 'set', 'box', '--nat']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^box: .*, nat\n$/);
    assert.doesNotMatch(r.stderr, /next start/);
    const loop = await viaProxy(socket, 'http://127.0.0.1:9/');
    assert.equal(loop.status, 403);
    assert.match(loop.body, /is the host itself/);
    assert.match((await viaProxy(socket, 'http://localhost:9/')).body, /is the host itself/);
    const e = JSON.parse((await h.run(['--json', 'vm', 'egress', 'box'])).stdout) as EgressReport;
    assert.equal(e.mode, 'user');
    assert.equal(e.nat, true);
    assert.equal(e.running, true);
    assert.match(e.note, /--nat, HTTP and HTTPS through banger's proxy/);
    assert.ok(e.denied.some((d) => d.name === '127.0.0.1:9' && d.count === 1), JSON.stringify(e.denied));
  });

  it('--no-nat and --allow apply at once too', async () => {
    assert.equal((await h.run(['vm', 'set', 'box', '--no-nat'])).code, 0);
    assert.match((await viaProxy(socket, 'http://192.0.2.1/')).body, /has no egress/);
    const a = await h.run(['vm', 'set', 'box', '--allow', 'example.org']);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual((await show()).spec.allow, ['example.org']);
    const other = await viaProxy(socket, 'http://192.0.2.1/');
    assert.equal(other.status, 403);
    assert.match(other.body, /192\.0\.2\.1 is not in the allowlist of vm box/);
    const out = await h.run(['vm', 'egress', 'box']);
    assert.match(out.stdout, /box: user mode, running, nat off/);
    assert.match(out.stdout, /allowlist: example\.org/);
  });

  it('stop closes the proxy socket; a stopped VM takes changes at its start, so nothing more is said', async () => {
    assert.equal((await h.run(['vm', 'stop', 'box'])).code, 0);
    assert.equal(existsSync(socket), false);
    const r = await h.run(['vm', 'set', 'box', '--nat']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /next start/);
    assert.equal((await show()).networkMode, undefined, 'a stopped VM has no network');
  });
});
