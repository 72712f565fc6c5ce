import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createServer } from 'node:http';
import { buildInfo } from '../../api/build-info.js';
import type { PingResult } from '../../api/types.js';
import { resolveLayout } from '../../config/paths.js';
import { openStore } from '../../store/db.js';
import { inspectSchema } from '../../store/inspect.js';
import { MIGRATIONS, type Migration } from '../../store/migrations.js';
import { hostDoctorEnv } from '../env.js';
import { fakeBin, fakeDoctorEnv, tempDir } from '../testing.js';
import { checkConfig } from './config.js';
import { checkDaemon } from './daemon.js';
import { checkStateStore } from './state-store.js';

function home(): string {
  return tempDir('banger-doctor-');
}

function envAt(dir: string, extra: NodeJS.ProcessEnv = {}) {
  return fakeDoctorEnv(fakeBin({}), { env: { BANGER_HOME: dir, ...extra }, layout: resolveLayout({ env: { BANGER_HOME: dir } }) });
}

const FUTURE: Migration = { id: 9999, name: 'from the future', up: () => undefined };

test('state-store: no store is a fresh install, and the doctor does not create one', () => {
  const dir = home();
  const env = envAt(dir);
  const r = checkStateStore(env);
  assert.equal(r.status, 'PASS');
  assert.match(r.details[0]!, /fresh install/);
  assert.equal(existsSync(env.layout.dbPath), false);
});

test('state-store: a migrated store passes', () => {
  const env = envAt(home());
  openStore(env.layout.dbPath).close();
  const r = checkStateStore(env);
  assert.equal(r.status, 'PASS');
  assert.equal(r.details[0], `${env.layout.dbPath} (schema ${MIGRATIONS[MIGRATIONS.length - 1]!.id})`);
});

test('state-store: pending migrations warn and are not applied', () => {
  const env = envAt(home());
  openStore(env.layout.dbPath).close();
  const withFuture = (p: string) => inspectSchema(p, [...MIGRATIONS, FUTURE]);
  const r = checkStateStore(env, withFuture);
  assert.equal(r.status, 'WARN');
  assert.match(r.details[0]!, /needs migrations/);
  assert.ok(r.fix);
  assert.equal(withFuture(env.layout.dbPath).state, 'migrations_needed');
});

test('state-store: a store from a newer banger fails', () => {
  const env = envAt(home());
  openStore(env.layout.dbPath, [...MIGRATIONS, FUTURE]).close();
  const r = checkStateStore(env);
  assert.equal(r.status, 'FAIL');
  assert.match(r.details[0]!, /newer banger/);
});

test('state-store: an unreadable store fails with a fix', () => {
  const env = envAt(home());
  mkdirSync(dirname(env.layout.dbPath), { recursive: true });
  writeFileSync(env.layout.dbPath, 'this is not a database, just text that is long enough to have a header'.repeat(20));
  const r = checkStateStore(env);
  assert.equal(r.status, 'FAIL');
  assert.match(r.fix!, /move .* aside/);
});

test('config: absent, valid, invalid', () => {
  const dir = home();
  const env = envAt(dir);
  assert.deepEqual(checkConfig(env), { name: 'config', status: 'PASS', details: [`no config file at ${dir}/config.toml (defaults in use)`] });
  writeFileSync(join(dir, 'config.toml'), 'log_level = "debug"\n');
  assert.deepEqual(checkConfig(env), { name: 'config', status: 'PASS', details: [`${dir}/config.toml is valid`] });
  writeFileSync(join(dir, 'config.toml'), 'log_levle = "debug"\n');
  const bad = checkConfig(env);
  assert.equal(bad.status, 'FAIL');
  assert.match(bad.details[0]!, /log_levle: unknown key/);
  assert.match(bad.fix!, /remove it/);
  writeFileSync(join(dir, 'config.toml'), 'log_level = \n');
  assert.equal(checkConfig(env).status, 'FAIL');
});

test('config: environment overrides are named, and invalid ones fail', () => {
  const dir = home();
  const ok = checkConfig(envAt(dir, { BANGER_LOG_LEVEL: 'debug' }));
  assert.equal(ok.status, 'PASS');
  assert.equal(ok.details[1], 'set from the environment: log_level');
  const bad = checkConfig(envAt(dir, { BANGER_LOG_LEVEL: 'loud' }));
  assert.equal(bad.status, 'FAIL');
});

test('daemon: not running warns that it starts on first use', async () => {
  const r = await checkDaemon(envAt(home()));
  assert.equal(r.status, 'WARN');
  assert.match(r.details[0]!, /starts on first use/);
});

test('daemon: a running daemon passes with its version', async () => {
  const ping: PingResult = { ...buildInfo(), pid: 4242, socket: '/x.sock', logPath: '/x.log', stateDir: '/x', startedAt: '', uptimeSeconds: 1 };
  const up = await checkDaemon({ ...envAt(home()), ping: () => Promise.resolve(ping) });
  assert.deepEqual(up, { name: 'daemon', status: 'PASS', details: [`bangerd ${ping.version} (pid 4242) on /x.sock`] });
  const other = await checkDaemon({ ...envAt(home()), ping: () => Promise.resolve({ ...ping, commit: 'other' }) });
  assert.equal(other.status, 'PASS');
  assert.match(other.details[1]!, /different build/);
});

test('daemon: pings the real socket without starting anything', async () => {
  const dir = home();
  const layout = resolveLayout({ env: { BANGER_HOME: dir } });
  mkdirSync(layout.runtimeDir, { recursive: true });
  const server = createServer((req, res) => {
    assert.equal(req.url, '/v1/ping');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ...buildInfo(), pid: 7, socket: layout.socketPath, logPath: '', stateDir: '', startedAt: '', uptimeSeconds: 0 }));
  });
  await new Promise<void>((r) => server.listen(layout.socketPath, r));
  try {
    const r = await checkDaemon(hostDoctorEnv({ env: { BANGER_HOME: dir, PATH: '' } }));
    assert.equal(r.status, 'PASS');
    assert.match(r.details[0]!, /\(pid 7\)/);
  } finally {
    await new Promise((r) => server.close(r));
  }
  const gone = await checkDaemon(hostDoctorEnv({ env: { BANGER_HOME: dir, PATH: '' } }));
  assert.equal(gone.status, 'WARN');
});

test('daemon: something else on the socket fails', async () => {
  const r = await checkDaemon({ ...envAt(home()), ping: () => Promise.reject(new Error('daemon answered HTTP 404')) });
  assert.equal(r.status, 'FAIL');
  assert.ok(r.fix);
});
