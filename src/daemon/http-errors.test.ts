import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { ErrorEnvelope } from '../api/errors.js';
import { CliHarness } from '../testing/cli-harness.js';

interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Writes raw bytes to the daemon's socket and reads one response (until its Content-Length is in, or the close). */
function raw(socketPath: string, chunks: (string | Buffer)[]): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let buf = Buffer.alloc(0);
    const done = () => {
      const text = buf.toString('utf8');
      const head = text.indexOf('\r\n\r\n');
      if (head < 0) return false;
      const headers = text.slice(0, head);
      const len = /\r\ncontent-length: (\d+)/i.exec(headers);
      const body = text.slice(head + 4);
      if (len && Buffer.byteLength(body) < Number(len[1])) return false;
      s.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1] ?? 0), headers, body });
      return true;
    };
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      done();
    });
    s.on('end', () => {
      if (!done()) reject(new Error(`connection closed after ${JSON.stringify(buf.toString('utf8').slice(0, 200))}`));
    });
    s.on('error', (err) => {
      if (!done()) reject(err);
    });
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
    });
  });
}

function envelope(r: RawResponse): ErrorEnvelope {
  assert.match(r.headers, /content-type: application\/json/i);
  return JSON.parse(r.body) as ErrorEnvelope;
}

describe('HTTP-layer errors come back in the error envelope', () => {
  const h = new CliHarness();
  before(async () => {
    const r = await h.run(['daemon', 'start']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => h.cleanup());

  it('oversized headers: 431', async () => {
    const r = await raw(h.layout.socketPath, [`GET /v1/ping HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`]);
    assert.equal(r.status, 431);
    assert.deepEqual(envelope(r), { code: 'bad_request', message: 'request headers are larger than 16 KiB' });
  });

  it('oversized body: 413', async () => {
    const r = await raw(h.layout.socketPath, [
      `POST /v1/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`,
      Buffer.alloc(64 * 1024, 'x'),
    ]);
    assert.equal(r.status, 413);
    assert.deepEqual(envelope(r), { code: 'bad_request', message: 'request body is larger than 1024 KiB' });
  });

  it('malformed request line and unknown method: 400', async () => {
    const line = await raw(h.layout.socketPath, ['this is not http\r\n\r\n']);
    assert.equal(line.status, 400);
    assert.match(envelope(line).message, /^malformed HTTP request/);
    const method = await raw(h.layout.socketPath, ['BREW /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n']);
    assert.equal(method.status, 400);
    assert.equal(envelope(method).code, 'bad_request');
  });

  it('a method the path does not take: 405 with Allow', async () => {
    const r = await raw(h.layout.socketPath, ['PUT /v1/vms/dev/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n']);
    assert.equal(r.status, 405);
    assert.match(r.headers, /\r\nallow: POST/i);
    assert.equal(envelope(r).message, 'PUT is not allowed on /v1/vms/dev/stop; it takes POST');
  });

  it('keeps serving afterwards', async () => {
    const r = await raw(h.layout.socketPath, ['GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert.equal(r.status, 200);
  });
});
