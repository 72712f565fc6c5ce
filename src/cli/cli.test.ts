import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CliHarness } from '../testing/cli-harness.js';
import { runUnchecked } from '../system/exec.js';
import { pidAlive } from '../system/proc.js';
import { BANGERD_SCRIPT } from '../sdk/daemon.js';
import type { PingResult } from '../api/types.js';
import Database from 'better-sqlite3';

describe('banger CLI against a real daemon', () => {
  const h = new CliHarness();
  after(() => h.cleanup());

  it('prints version with commit and build time, without a daemon', async () => {
    const r = await h.run(['version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^banger \d+\.\d+\.\d+\ncommit: \S+\nbuilt: {2}\S+\n$/);
    const v = await h.run(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^banger v\d+\.\d+\.\d+ \(commit \S+, built \S+\)\n$/);
    assert.equal(existsSync(h.layout.socketPath), false, 'version must not start the daemon');
  });

  it('starts the daemon on first use and says so on stderr', async () => {
    const r = await h.run(['vm', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /started bangerd \(pid \d+, log .*bangerd\.log\)/);
    assert.match(r.stdout, /no VMs yet/);
    const again = await h.run(['vm', 'list', '--json']);
    assert.equal(again.stderr, '');
    assert.deepEqual(JSON.parse(again.stdout), []);
  });

  it('daemon status shows pid, socket, log path, uptime, version and the hypervisor driver with why', async () => {
    const r = await h.run(['daemon', 'status']);
    assert.equal(r.code, 0);
    for (const k of ['pid:', 'socket:', 'log:', 'uptime:', 'version:']) assert.ok(r.stdout.includes(k), `${k} in ${r.stdout}`);
    assert.match(r.stdout, /^driver: {2}(qemu|firecracker|fake)( with (kvm|tcg))?: driver = "\w+"/m, 'the driver new VMs get, and why');
    const j = JSON.parse((await h.run(['--json', 'daemon', 'status'])).stdout) as PingResult & { running: boolean; hypervisor?: { driver?: string; choice?: string } };
    assert.equal(j.running, true);
    assert.equal(typeof j.hypervisor?.choice, 'string');
    assert.equal(j.socket, h.layout.socketPath);
    assert.ok(pidAlive(j.pid));
  });

  it('config show reports values and their sources', async () => {
    const r = await h.run(['config', 'show', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { config: Record<string, unknown>; sources: Record<string, string> };
    assert.equal(v.config.default_image_name, 'debian-bookworm');
    assert.equal(v.sources.default_image_name, 'default');
    const text = await h.run(['config', 'show']);
    assert.match(text.stdout, /log_level = "info"\s+# default/);
  });

  it('rejects unknown commands and flags with exit 2 and a suggestion', async () => {
    const r = await h.run(['vm', 'lst']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'lst'/);
    assert.match(r.stderr, /Did you mean/);
    const f = await h.run(['vm', 'list', '--colour']);
    assert.equal(f.code, 2);
    assert.match(f.stderr, /unknown option '--colour'/);
  });

  it('rejects an invalid VM name with the exact rule (exit 2)', async () => {
    const r = await h.run(['vm', 'create', '--name', 'Bad_Name']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /vm name "Bad_Name" has invalid character "B" at position 0 \(allowed: lowercase a-z, 0-9, '-'\)/);
    const long = await h.run(['vm', 'run', '--name', 'x'.repeat(64)]);
    assert.equal(long.code, 2);
    assert.match(long.stderr, /is 64 characters; max is 63 \(DNS label limit\)/);
  });

  it('rejects invalid sizes and counts (exit 2)', async () => {
    const r = await h.run(['vm', 'create', '--disk-size', '4X']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid size "4X"/);
    const v = await h.run(['vm', 'create', '--vcpu', '0']);
    assert.equal(v.code, 2);
    assert.match(v.stderr, /--vcpu must be a whole number from 1 to 64/);
  });

  it('maps API errors to exit codes with hints', async () => {
    const r = await h.run(['vm', 'show', 'nope']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /banger: vm "nope" not found\nhint: /);
    const j = await h.run(['--json', 'vm', 'show', 'nope']);
    assert.equal(JSON.parse(j.stderr).error.code, 'not_found');
  });

  it('kernel pull of a name the catalog lacks is not_found, listing the catalog', async () => {
    const r = await h.run(['kernel', 'pull', 'x']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /kernel "x" is not in the kernel catalog \(built in\)( \(op-[0-9a-f]+\))?\nhint: available: debian-cloud-6\.1/);
    const kernels = await h.run(['kernel', 'list', '--available']);
    assert.equal(kernels.code, 0, kernels.stderr);
    assert.match(kernels.stdout, /^NAME +STATE +SIZE +KIND +DESCRIPTION\ndebian-cloud-6\.1 \(default\) +available +25M +deb +Debian 12 cloud kernel/m);
    const images = await h.run(['image', 'list', '--available']);
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, /^debian-bookworm +available +- +recipe:debian-bookworm +Debian 12/m);
    const json = JSON.parse((await h.run(['--json', 'kernel', 'list', '--available'])).stdout) as { name: string; pulled: boolean; sha256: string }[];
    assert.deepEqual(json.map((k) => [k.name, k.pulled]), [['debian-cloud-6.1', false]]);
  });

  it('shows runnable examples on every group', async () => {
    for (const g of ['vm', 'image', 'kernel', 'daemon', 'system', 'config', 'completion']) {
      const r = await h.run([g, '--help']);
      assert.equal(r.code, 0, g);
      assert.match(r.stdout, /Examples?:/, `${g} help has examples`);
    }
    const root = await h.run(['--help']);
    for (const g of ['vm', 'image', 'kernel', 'doctor', 'ssh-config', 'daemon', 'system', 'version', 'completion']) {
      assert.match(root.stdout, new RegExp(`\\n  ${g}\\b`), `root help lists ${g}`);
    }
  });

  it('prints completion scripts and completes commands and VM names', async () => {
    for (const sh of ['bash', 'zsh', 'fish']) {
      const r = await h.run(['completion', sh]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /banger __complete/);
    }
    assert.equal((await h.run(['completion', 'tcsh'])).code, 2);
    const c = await h.run(['__complete', 'vm', 'st']);
    assert.deepEqual(c.stdout.trim().split('\n'), ['start', 'stats', 'stop']);
    const f = await h.run(['__complete', 'vm', 'create', '--n']);
    assert.deepEqual(c.code, 0);
    assert.match(f.stdout, /--name/);
  });

  it('serves 200 concurrent API calls', async () => {
    const client = h.client();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? client.get<PingResult>('/ping') : client.get<unknown[]>('/vms'))));
    assert.equal(results.length, 200);
    assert.ok(results.every((r) => r !== undefined));
  });

  it('survives clients that disconnect mid-request', async () => {
    const sock = h.layout.socketPath;
    await new Promise<void>((resolve) => {
      const s = connect(sock, () => {
        s.write('POST /v1/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na');
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 50);
      });
    });
    await new Promise<void>((resolve) => {
      const req = request({ socketPath: sock, path: '/v1/ping', method: 'GET' }, (res) => {
        res.destroy();
        resolve();
      });
      req.end();
    });
    const ping = await h.client().get<PingResult>('/ping');
    assert.ok(ping.pid > 0);
  });

  it('answers malformed JSON with bad_request', async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve) => {
      const req = request({ socketPath: h.layout.socketPath, path: '/v1/vms', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.end('{not json');
    });
    assert.equal(r.status, 400);
    assert.equal((JSON.parse(r.body) as { code: string }).code, 'bad_request');
  });

  it('refuses a second daemon on the same socket', async () => {
    const r = await runUnchecked([process.execPath, BANGERD_SCRIPT, '--socket', h.layout.socketPath], { env: h.env, timeoutMs: 15_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already running/);
  });

  it('stops on daemon stop, removing socket and pid file', async () => {
    const r = await h.run(['daemon', 'stop']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /bangerd stopped/);
    assert.equal(existsSync(h.layout.socketPath), false);
    assert.equal(existsSync(h.layout.pidFile), false);
    const s = await h.run(['daemon', 'status']);
    assert.match(s.stdout, /not running/);
  });
});

describe('daemon start-up failures', () => {
  it('replaces a stale socket left by a crashed daemon', async () => {
    const h = new CliHarness();
    try {
      const first = await h.run(['daemon', 'start']);
      assert.equal(first.code, 0, first.stderr);
      const pid = (await h.client().get<PingResult>('/ping')).pid;
      process.kill(pid, 'SIGKILL');
      while (pidAlive(pid)) await new Promise((r) => setTimeout(r, 20));
      assert.ok(existsSync(h.layout.socketPath), 'the crash leaves the socket behind');
      const r = await h.run(['vm', 'list']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /started bangerd/);
      const again = (await h.client().get<PingResult>('/ping')).pid;
      assert.notEqual(again, pid);
    } finally {
      await h.cleanup();
    }
  });

  it('refuses to start with an invalid config, naming file and key (exit 5)', async () => {
    const h = new CliHarness();
    try {
      mkdirSync(h.home, { recursive: true });
      writeFileSync(join(h.home, 'config.toml'), 'log_level = "loud"\n');
      const r = await h.run(['vm', 'list']);
      assert.equal(r.code, 5);
      assert.match(r.stderr, /bangerd did not start/);
      assert.ok(r.stderr.includes(`${join(h.home, 'config.toml')}: log_level: expected one of`), r.stderr);
      assert.match(r.stderr, /hint: /);
    } finally {
      await h.cleanup();
    }
  });

  it('gives a clear error for a socket path over the unix limit', async () => {
    const h = new CliHarness();
    try {
      const long = join(h.home, 'x'.repeat(120), 'bangerd.sock');
      const r = await h.run(['--socket', long, 'vm', 'list']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unix sockets allow at most 107/);
      const d = await runUnchecked([process.execPath, BANGERD_SCRIPT, '--socket', long], { env: h.env, timeoutMs: 15_000 });
      assert.equal(d.code, 2);
      assert.match(d.stderr, /unix sockets allow at most 107/);
    } finally {
      await h.cleanup();
    }
  });

  it('shuts down cleanly on SIGTERM and logs JSON lines at the configured level', async () => {
    const h = new CliHarness({ BANGER_LOG_LEVEL: 'debug' });
    try {
      assert.equal((await h.run(['daemon', 'start'])).code, 0);
      const pid = (await h.client().get<PingResult>('/ping')).pid;
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 10_000;
      while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(pidAlive(pid), false);
      assert.equal(existsSync(h.layout.socketPath), false);
      const lines = readFileSync(h.layout.daemonLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: string });
      assert.ok(lines.some((l) => l.msg === 'bangerd stopped'));
      assert.ok(lines.every((l) => ['debug', 'info', 'warn', 'error'].includes(l.level)));
    } finally {
      await h.cleanup();
    }
  });

  it('checks migrations: 0 compatible, 1 migrations needed, 2 written by a newer banger', async () => {
    const h = new CliHarness();
    try {
      const fresh = await runUnchecked([process.execPath, BANGERD_SCRIPT, '--check-migrations'], { env: h.env });
      assert.equal(fresh.code, 0, 'a missing store is compatible: it is created on start');
      assert.equal((await h.run(['daemon', 'start'])).code, 0);
      const ok = await runUnchecked([process.execPath, BANGERD_SCRIPT, '--check-migrations'], { env: h.env });
      assert.equal(ok.code, 0);
      assert.match(ok.stdout, /^compatible/);
      assert.equal((await h.run(['daemon', 'stop'])).code, 0);
      const db = new Database(h.layout.dbPath);
      db.prepare("INSERT INTO schema_migrations (id, name, applied_at) VALUES (999, 'future', 'x')").run();
      db.close();
      const newer = await runUnchecked([process.execPath, BANGERD_SCRIPT, '--check-migrations'], { env: h.env });
      assert.equal(newer.code, 2);
      const db2 = new Database(h.layout.dbPath);
      db2.prepare('DELETE FROM schema_migrations').run();
      db2.close();
      const behind = await runUnchecked([process.execPath, BANGERD_SCRIPT, '--check-migrations'], { env: h.env });
      assert.equal(behind.code, 1);
    } finally {
      await h.cleanup();
    }
  });
});
