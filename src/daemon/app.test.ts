import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notFound, type ErrorEnvelope } from '../api/errors.js';
import { ROUTE_LIST } from '../api/routes.js';
import { API_PREFIX, type OperationStarted, type OperationSummary, type VMInfo } from '../api/types.js';
import { resolveConfig } from '../config/load.js';
import { ExecError, run, ToolMissingError } from '../system/exec.js';
import { createApp, MAX_BODY_BYTES } from './app.js';
import type { DaemonContext } from './context.js';
import { nullLogger } from '../system/logger.js';
import { OperationRegistry } from './operations.js';

const scratch = mkdtempSync(join(tmpdir(), 'banger-app-'));

/** A real ExecError: a fake mkfs.ext4 that fails the way the real one does. */
async function failingTool(): Promise<Error> {
  const tool = join(scratch, 'mkfs.ext4');
  writeFileSync(tool, '#!/bin/sh\necho "mke2fs 1.47.0 (5-Feb-2023)" >&2\necho "mkfs.ext4: Device size reported to be zero." >&2\nexit 1\n');
  chmodSync(tool, 0o755);
  const err = await run([tool]).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ExecError, 'the fake tool fails');
  return err;
}

const vm = { name: 'dev', state: 'stopped' } as VMInfo;

function testApp(services: Record<string, Record<string, unknown>>) {
  const ops = new OperationRegistry(nullLogger);
  const ctx = {
    logger: nullLogger,
    ops,
    loaded: resolveConfig({}, join(scratch, 'config.toml'), {}),
    layout: { configFile: join(scratch, 'config.toml') },
    services,
  } as unknown as DaemonContext;
  return { app: createApp(ctx), ops };
}

async function call(app: ReturnType<typeof createApp>, method: string, path: string, body?: string) {
  const res = await app.request(API_PREFIX + path, { method, ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined };
}

describe('the daemon HTTP app', () => {
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('registers exactly the routes of the table', () => {
    const { app } = testApp({});
    const registered = app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`).sort();
    const table = ROUTE_LIST.map((r) => `${r.method} ${API_PREFIX}${r.path}`).sort();
    assert.deepEqual(registered, table);
  });

  it('answers a wrong method on a known path with 405 and the envelope', async () => {
    const { app } = testApp({});
    const r = await call(app, 'PUT', '/vms');
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, POST');
    const env = r.json as ErrorEnvelope;
    assert.equal(env.code, 'bad_request');
    assert.equal(env.message, 'PUT is not allowed on /v1/vms; it takes GET, POST');
    const none = await call(app, 'GET', '/nope');
    assert.equal(none.status, 404);
    assert.equal((none.json as ErrorEnvelope).code, 'not_found');
  });

  it('answers a body over the limit with 413 and the envelope', async () => {
    const { app } = testApp({});
    const r = await call(app, 'POST', '/vms', JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES) }));
    assert.equal(r.status, 413);
    assert.deepEqual(r.json, { code: 'bad_request', message: 'request body is larger than 1024 KiB' });
  });

  it('refuses unknown fields and bad JSON with bad_request naming the problem', async () => {
    const { app } = testApp({});
    const r = await call(app, 'POST', '/vms/dev/stop', '{"timeoutSeconds":5,"force":true}');
    assert.equal(r.status, 400);
    assert.match((r.json as ErrorEnvelope).message, /unknown field "force" in the stop VM request/);
    const bad = await call(app, 'POST', '/vms', '{not json');
    assert.equal(bad.status, 400);
    assert.match((bad.json as ErrorEnvelope).message, /not valid JSON/);
  });

  it('answers a failed host tool as operation_failed naming the tool and its last line, with causes', async () => {
    const err = await failingTool();
    const { app } = testApp({ kernels: { remove: () => Promise.reject(err) } });
    const r = await call(app, 'DELETE', '/kernels/k');
    assert.equal(r.status, 500);
    const env = r.json as ErrorEnvelope;
    assert.equal(env.code, 'operation_failed');
    assert.equal(env.message, 'mkfs.ext4 failed: mkfs.ext4: Device size reported to be zero.');
    assert.match(env.causes?.[0] ?? '', /^ExecError: .*mkfs\.ext4 exited with status 1/);
    const missing = testApp({ kernels: { remove: () => Promise.reject(new ToolMissingError('debugfs')) } });
    const m = await call(missing.app, 'DELETE', '/kernels/k');
    assert.equal((m.json as ErrorEnvelope).code, 'operation_failed');
    assert.match((m.json as ErrorEnvelope).message, /^debugfs is not installed/);
  });

  it('reports a tool failing inside an operation the same way in its error event', async () => {
    const err = await failingTool();
    const { app, ops } = testApp({ kernels: { checkNew: () => undefined, importFiles: () => Promise.reject(err) } });
    const r = await call(app, 'POST', '/kernels/import', JSON.stringify({ name: 'k', kernel: '/boot/vmlinuz' }));
    assert.equal(r.status, 202);
    const { opId } = r.json as OperationStarted;
    await ops.get(opId)!.finished;
    const events = await (await app.request(`${API_PREFIX}/operations/${opId}/events`)).text();
    const last = JSON.parse(events.trim().split('\n').at(-1)!) as { type: string; error: ErrorEnvelope };
    assert.equal(last.type, 'error');
    assert.equal(last.error.code, 'operation_failed');
    assert.equal(last.error.message, 'mkfs.ext4 failed: mkfs.ext4: Device size reported to be zero.');
  });

  it('runs vm stop as an operation that a cancel does not interrupt', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stops: unknown[] = [];
    const { app, ops } = testApp({
      vms: {
        show: () => vm,
        stop: async (_name: string, opts: unknown) => {
          stops.push(opts);
          await gate;
          return vm;
        },
      },
    });
    const r = await call(app, 'POST', '/vms/dev/stop', JSON.stringify({ timeoutSeconds: 5 }));
    assert.equal(r.status, 202);
    const { opId } = r.json as OperationStarted;
    const cancel = await call(app, 'DELETE', `/operations/${opId}`);
    assert.deepEqual(cancel.json, { cancelled: false, state: 'running' });
    release();
    await ops.get(opId)!.finished;
    const s = (await call(app, 'GET', `/operations/${opId}`)).json as OperationSummary;
    assert.equal(s.kind, 'vm.stop');
    assert.equal(s.state, 'succeeded');
    assert.equal(s.cancellable, false);
    assert.deepEqual(s.result, vm);
    assert.deepEqual(stops, [{ timeoutMs: 5000 }]);
  });

  it('answers not_found before starting an operation on an unknown VM', async () => {
    const { app, ops } = testApp({
      vms: {
        show: () => {
          throw notFound('vm "ghost" not found');
        },
      },
    });
    for (const [method, path] of [['DELETE', '/vms/ghost'], ['POST', '/vms/ghost/stop'], ['POST', '/vms/ghost/kill'], ['PATCH', '/vms/ghost']] as const) {
      const r = await call(app, method, path, path.endsWith('ghost') && method === 'PATCH' ? '{"vcpu":2}' : undefined);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal((r.json as ErrorEnvelope).code, 'not_found');
    }
    assert.deepEqual(ops.list(), [], 'no operation was started');
  });
  it('ping names the DNS listener when it listens, and GET /dns answers its status', async () => {
    const status = { configured: '127.0.0.1:0', addr: '127.0.0.1:5353', answers: true, records: 1, zone: 'vm' };
    const make = (addr: string | undefined, guest?: string) =>
      createApp({
        logger: nullLogger,
        ops: new OperationRegistry(nullLogger),
        loaded: resolveConfig({}, join(scratch, 'config.toml'), {}),
        layout: { configFile: join(scratch, 'config.toml'), socketPath: '/s', daemonLog: '/l', stateDir: '/d' },
        build: { version: '0', commit: 'c', builtAt: 'b' },
        startedAt: new Date(),
        services: { dns: { addr: () => addr, guestAddr: () => guest, status: () => Promise.resolve(status) } },
      } as unknown as DaemonContext);
    assert.equal(((await call(make('127.0.0.1:5353'), 'GET', '/ping')).json as { dnsAddr?: string }).dnsAddr, '127.0.0.1:5353');
    assert.equal('dnsAddr' in ((await call(make(undefined), 'GET', '/ping')).json as object), false);
    assert.equal(((await call(make('127.0.0.1:5353', '10.213.0.1:53'), 'GET', '/ping')).json as { guestDnsAddr?: string }).guestDnsAddr, '10.213.0.1:53');
    assert.equal('guestDnsAddr' in ((await call(make('127.0.0.1:5353'), 'GET', '/ping')).json as object), false);
    assert.deepEqual((await call(make(undefined), 'GET', '/dns')).json, status);
  });
});
