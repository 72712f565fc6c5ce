import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, OperationDetachedError } from './client.js';
import { BangerError } from './errors.js';
import { ROUTES } from './routes.js';

/** A fake daemon: every operation starts and streams nothing until it is cancelled. */
describe('ApiClient.run and Ctrl-C', () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-client-'));
  const socket = join(dir, 'd.sock');
  const requests: string[] = [];
  const streams = new Map<string, ServerResponse>();
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const events = /^\/v1\/operations\/(op-\w+)\/events$/.exec(req.url ?? '');
    const cancel = /^\/v1\/operations\/(op-\w+)$/.exec(req.url ?? '');
    if (events) {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(JSON.stringify({ type: 'stage', at: '', stage: 's', label: 'working' }) + '\n');
      streams.set(events[1]!, res);
    } else if (cancel && req.method === 'DELETE') {
      const s = streams.get(cancel[1]!);
      s?.end(JSON.stringify({ type: 'error', at: '', elapsedMs: 1, error: { code: 'operation_failed', message: 'vm.start cancelled' } }) + '\n');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ cancelled: true, state: 'running' }));
    } else {
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ opId: `op-${requests.length}` }));
    }
  });
  before(() => new Promise<void>((r) => server.listen(socket, r)));
  after(() => {
    for (const s of streams.values()) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('cancels a cancellable operation and reports how it ended', async () => {
    const ac = new AbortController();
    const p = new ApiClient(socket).run(ROUTES.vmStart, { name: 'dev' }, undefined, () => ac.abort(), ac.signal);
    await assert.rejects(p, (err: unknown) => err instanceof BangerError && err.message === 'vm.start cancelled');
    assert.ok(requests.some((r) => /^DELETE \/v1\/operations\/op-\d+$/.test(r)), requests.join('\n'));
  });

  it('stops waiting for an operation that cannot be cancelled, and does not try to cancel it', async () => {
    requests.length = 0;
    const ac = new AbortController();
    const p = new ApiClient(socket).run(ROUTES.vmStop, { name: 'dev' }, {}, () => ac.abort(), ac.signal);
    await assert.rejects(p, (err: unknown) => err instanceof OperationDetachedError && /vm\.stop \(op-\d+\) cannot be cancelled; it goes on in the daemon/.test(err.message));
    assert.deepEqual(requests.filter((r) => r.startsWith('DELETE')), []);
    assert.equal(requests[0], 'POST /v1/vms/dev/stop');
  });
});
