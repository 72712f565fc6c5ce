/**
 * A slow or stalled client cannot hold up the daemon: while one connection has sent half a request
 * body and stopped, others are answered; a body announced larger than the limit is answered 413 before
 * it has been sent (nothing is buffered).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { API_PREFIX } from '../api/types.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { rawRequest } from '../testing/raw-http.js';
import { tinyImageHome } from '../testing/tiny-image.js';

function open(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends on s until it closes or `until` matches. */
function readUntil(s: Socket, until: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no answer matching ${until} within ${timeoutMs} ms; got ${JSON.stringify(text)}`)), timeoutMs);
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (until.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

describe('slow clients', () => {
  let h: CliHarness;
  before(async () => {
    h = await tinyImageHome();
  });
  after(() => h.cleanup());

  it('answers other clients while one has sent half a body and stalls', async () => {
    const stalled = await Promise.all(Array.from({ length: 5 }, () => open(h.layout.socketPath)));
    try {
      for (const s of stalled) {
        s.write(`POST ${API_PREFIX}/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":"half`);
      }
      for (const path of [`${API_PREFIX}/ping`, `${API_PREFIX}/vms`, `${API_PREFIX}/images`]) {
        const r = await rawRequest(h.layout.socketPath, 'GET', path, undefined, 5000);
        assert.equal(r.status, 200, `${path} answered while clients stall: ${r.text}`);
      }
      const created = await h.run(['vm', 'create', '--name', 'beside']);
      assert.equal(created.code, 0, `a create goes through beside stalled clients:\n${created.stderr}`);
      assert.equal((await h.run(['vm', 'delete', 'beside'])).code, 0);
    } finally {
      for (const s of stalled) s.destroy();
    }
  });

  it('answers a body announced over the limit with 413 before it is sent', async () => {
    const s = await open(h.layout.socketPath);
    try {
      const answer = readUntil(s, /\r\n\r\n[\s\S]*\}/, 10_000);
      s.write(`POST ${API_PREFIX}/images/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${512 * 1024 * 1024}\r\n\r\n`);
      s.write(Buffer.alloc(64 * 1024, 0x20));
      const text = await answer;
      assert.match(text, /^HTTP\/1\.1 413 /, text);
      assert.match(text, /"code":"bad_request"/);
      assert.match(text, /larger than/);
    } finally {
      s.destroy();
    }
    // The daemon is still there and its memory did not take the body in.
    const r = await rawRequest(h.layout.socketPath, 'GET', `${API_PREFIX}/vms`);
    assert.equal(r.status, 200);
  });
});
