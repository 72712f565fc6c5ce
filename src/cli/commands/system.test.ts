import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import type { PingResult } from '../../api/types.js';
import type { RunResult } from '../../system/exec.js';
import { HELPER_UNIT_PATH, renderHelperUnit, renderUnit, UNIT_PATH, type SystemdHost } from '../../system/systemd.js';
import { CliContext, ExitStatus } from '../context.js';
import type { CliIO } from '../io.js';
import { runCli } from '../main.js';
import { reportError } from '../render.js';
import { PURGE_DIRS, registerSystem } from './system.js';

const DAEMON = { nodePath: '/usr/bin/node', bangerdScript: '/opt/banger/dist/bin/bangerd.js' };

function capture(env: NodeJS.ProcessEnv = { NO_COLOR: '1' }): CliIO & { out(): string; err(): string } {
  const sink = () => {
    const chunks: string[] = [];
    const w = new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    });
    return { w, text: () => chunks.join('') };
  };
  const o = sink();
  const e = sink();
  return { stdout: o.w, stderr: e.w, stdin: process.stdin, env, out: o.text, err: e.text };
}

interface FakeHost extends SystemdHost {
  calls: string[];
}

const PING: PingResult = { version: '0.1.0', commit: 'c', builtAt: 'b', pid: 99, socket: '/run/banger/bangerd.sock', logPath: '', stateDir: '', startedAt: '', uptimeSeconds: 0 };

function fakeHost(o: { systemd?: boolean; uid?: number; failOn?: string; pingAfter?: number; installed?: boolean; helperInstalled?: boolean } = {}): FakeHost {
  const calls: string[] = [];
  const files = new Set<string>([DAEMON.bangerdScript, ...(o.installed ? [UNIT_PATH] : []), ...(o.helperInstalled ? [HELPER_UNIT_PATH] : [])]);
  let pings = 0;
  let clock = 0;
  const result = (args: string[], code: number, stdout = ''): RunResult => ({ argv: ['systemctl', ...args], code, signal: null, stdout, stderr: code ? 'Failed to do it.' : '', timedOut: false });
  return {
    calls,
    systemdPresent: () => o.systemd ?? true,
    uid: () => o.uid ?? 0,
    systemctl(args) {
      calls.push(`systemctl ${args.join(' ')}`);
      if (o.failOn && args.join(' ').startsWith(o.failOn)) return Promise.resolve(result(args, 1));
      if (args[0] === 'is-enabled') return Promise.resolve(result(args, 0, 'enabled\n'));
      if (args[0] === 'is-active') return Promise.resolve(result(args, 3, 'inactive\n'));
      return Promise.resolve(result(args, 0));
    },
    exists: (p) => files.has(p),
    writeUnit(p, content) {
      calls.push(`write ${p} (${content.length} bytes)`);
      files.add(p);
    },
    removeFile(p) {
      calls.push(`rm ${p}`);
      files.delete(p);
    },
    removeTree(p) {
      calls.push(`rm -rf ${p}`);
    },
    userExists: (name) => Promise.resolve(name === 'alice'),
    ping: () => Promise.resolve(++pings > (o.pingAfter ?? 0) ? PING : undefined),
    sleep: (ms) => {
      clock += ms;
      return Promise.resolve();
    },
    now: () => clock,
  };
}

/** Runs `banger system ...` against a fake host, with the CLI's error handling. */
async function runSystem(argv: string[], host: SystemdHost, io = capture()): Promise<{ status: number; out: string; err: string }> {
  const program = new Command('banger').option('--json').option('--debug').exitOverride();
  const ctx = new CliContext(io, program);
  registerSystem(program, ctx, host, DAEMON);
  let status = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    status = err instanceof ExitStatus ? err.status : reportError(io, err, ctx.globals);
  }
  return { status, out: io.out(), err: io.err() };
}

test('system install without systemd: exit 5, says so, touches nothing', async () => {
  const host = fakeHost({ systemd: false });
  const r = await runSystem(['system', 'install'], host);
  assert.equal(r.status, 5);
  assert.match(r.err, /^banger: banger system install needs systemd, and this host does not run it/);
  assert.match(r.err, /hint: .*--dry-run shows the unit/);
  assert.deepEqual(host.calls, []);
});

test('status and uninstall without systemd exit 5 too', async () => {
  for (const argv of [['system', 'status'], ['system', 'uninstall'], ['system', 'uninstall', '--purge'], ['system', 'restart']]) {
    const host = fakeHost({ systemd: false });
    const r = await runSystem(argv, host);
    assert.equal(r.status, 5, argv.join(' '));
    assert.deepEqual(host.calls, []);
  }
});

test('system install as non-root: bad_request with the sudo hint', async () => {
  const host = fakeHost({ uid: 1000 });
  const r = await runSystem(['system', 'install'], host);
  assert.equal(r.status, 2);
  assert.equal(r.err, 'banger: banger system install needs root\nhint: sudo banger system install\n');
  assert.deepEqual(host.calls, []);
  const j = await runSystem(['--json', 'system', 'install', '--owner', 'alice'], fakeHost({ uid: 1000 }));
  assert.deepEqual(JSON.parse(j.err), { error: { code: 'bad_request', message: 'banger system install needs root', hint: 'sudo banger system install --owner alice' } });
});

test('system install --dry-run prints both units and the commands, even without systemd or root', async () => {
  const host = fakeHost({ systemd: false, uid: 1000 });
  const r = await runSystem(['system', 'install', '--dry-run', '--owner', 'alice'], host);
  assert.equal(r.status, 0);
  assert.equal(
    r.out,
    `Would write ${HELPER_UNIT_PATH}:\n\n${renderHelperUnit({ ...DAEMON, owner: 'alice' })}\n` +
      `Would write ${UNIT_PATH}:\n\n${renderUnit({ ...DAEMON, owner: 'alice' })}\nWould run:\n  systemctl daemon-reload\n  systemctl enable --now bangerd-root.service\n  systemctl enable --now bangerd.service\nthen wait up to 15s for bangerd to answer on /run/banger/bangerd.sock.\n`,
  );
  assert.match(r.out, /\nUser=alice\n/);
  assert.match(r.out, /\nExecStart=\/usr\/bin\/node \/opt\/banger\/dist\/bin\/bangerd\.js --helper --owner alice --socket \/run\/banger-root\/helper\.sock\n/);
  assert.match(r.err, /does not run systemd/);
  assert.deepEqual(host.calls, []);
});

test('system install --dry-run through the real CLI prints the unit', async () => {
  const io = capture();
  const status = await runCli(['system', 'install', '--dry-run'], io);
  assert.equal(status, 0, io.err());
  assert.match(io.out(), /^Would write \/etc\/systemd\/system\/bangerd\.service:\n\n\[Unit\]\n/);
  assert.match(io.out(), /\nExecStart=\S+ \S+\/bin\/bangerd\.js --system\n/);
  assert.match(io.out(), /\nKillMode=process\n/);
  assert.match(io.out(), /\n {2}systemctl enable --now bangerd\.service\n/);
});

test('system install: writes the unit, reloads, enables, waits for the ping', async () => {
  const root = fakeHost({ pingAfter: 3 });
  const rr = await runSystem(['system', 'install'], root);
  assert.equal(rr.status, 0, rr.err);
  const rootUnit = renderUnit(DAEMON);
  assert.deepEqual(root.calls, [`write ${UNIT_PATH} (${rootUnit.length} bytes)`, 'systemctl daemon-reload', 'systemctl enable --now bangerd.service']);
  const host = fakeHost({ pingAfter: 3 });
  const r = await runSystem(['system', 'install', '--owner', 'alice'], host);
  assert.equal(r.status, 0, r.err);
  const unit = renderUnit({ ...DAEMON, owner: 'alice' });
  const helper = renderHelperUnit({ ...DAEMON, owner: 'alice' });
  assert.deepEqual(host.calls, [
    `write ${HELPER_UNIT_PATH} (${helper.length} bytes)`,
    `write ${UNIT_PATH} (${unit.length} bytes)`,
    'systemctl daemon-reload',
    'systemctl enable --now bangerd-root.service',
    'systemctl enable --now bangerd.service',
  ]);
  assert.equal(r.out, `installed ${UNIT_PATH}; bangerd 0.1.0 is running (pid 99) on /run/banger/bangerd.sock\n`);
});

test('system install: an unknown owner or a failing systemctl is reported', async () => {
  const nobody = await runSystem(['system', 'install', '--owner', 'mallory'], fakeHost());
  assert.equal(nobody.status, 2);
  assert.match(nobody.err, /no user named mallory/);
  const bad = await runSystem(['system', 'install', '--owner', 'a b'], fakeHost());
  assert.equal(bad.status, 2);
  const failing = fakeHost({ failOn: 'enable' });
  const f = await runSystem(['system', 'install'], failing);
  assert.equal(f.status, 1);
  assert.match(f.err, /systemctl enable --now bangerd\.service failed: Failed to do it\./);
  assert.match(f.err, /journalctl -u bangerd\.service/);
});

test('system install: a daemon that never answers is unavailable', async () => {
  const r = await runSystem(['system', 'install'], fakeHost({ pingAfter: Infinity }));
  assert.equal(r.status, 5);
  assert.match(r.err, /did not answer on \/run\/banger\/bangerd\.sock/);
});

test('system status reports the unit, systemctl and the ping', async () => {
  const host = fakeHost({ installed: true });
  const r = await runSystem(['system', 'status'], host);
  assert.equal(r.status, 0, r.err);
  assert.equal(
    r.out,
    `unit:    ${UNIT_PATH}\nenabled: enabled\nactive:  inactive\ndaemon:  running, bangerd 0.1.0 (pid 99) on /run/banger/bangerd.sock\n`,
  );
  const split = fakeHost({ installed: true, helperInstalled: true });
  split.ping = () => Promise.resolve({ ...PING, uid: 1000, rootHelper: { socket: '/run/banger-root/helper.sock', reachable: true } });
  const sr = await runSystem(['system', 'status'], split);
  assert.equal(sr.status, 0, sr.err);
  assert.match(sr.out, /\nhelper: {2}bangerd-root\.service inactive, answering the daemon\n$/);
  assert.ok(split.calls.includes('systemctl is-active bangerd-root.service'));
  const j = await runSystem(['--json', 'system', 'status'], fakeHost());
  const v = JSON.parse(j.out) as Record<string, unknown>;
  assert.equal(v.installed, false);
  assert.equal(v.enabled, 'enabled');
});

test('system uninstall --purge: disable, remove, reload, purge', async () => {
  const host = fakeHost({ installed: true });
  const r = await runSystem(['system', 'uninstall', '--purge'], host);
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(host.calls, [
    'systemctl disable --now bangerd.service',
    `rm ${UNIT_PATH}`,
    'systemctl daemon-reload',
    ...PURGE_DIRS.map((d) => `rm -rf ${d}`),
  ]);
  const both = fakeHost({ installed: true, helperInstalled: true });
  const b = await runSystem(['system', 'uninstall'], both);
  assert.equal(b.status, 0, b.err);
  assert.deepEqual(both.calls, ['systemctl disable --now bangerd.service', `rm ${UNIT_PATH}`, 'systemctl disable --now bangerd-root.service', `rm ${HELPER_UNIT_PATH}`, 'systemctl daemon-reload']);
  assert.equal(b.out, 'removed bangerd.service\nremoved bangerd-root.service\n');
  const none = fakeHost();
  const n = await runSystem(['system', 'uninstall'], none);
  assert.equal(n.status, 0);
  assert.equal(n.out, 'bangerd.service was not installed\n');
  assert.deepEqual(none.calls, []);
  const user = await runSystem(['system', 'uninstall'], fakeHost({ uid: 1000, installed: true }));
  assert.equal(user.status, 2);
  const dry = fakeHost({ systemd: false });
  const d = await runSystem(['system', 'uninstall', '--purge', '--dry-run'], dry);
  assert.equal(d.status, 0);
  assert.match(d.out, /systemctl disable --now bangerd\.service\n {2}rm \/etc\/systemd\/system\/bangerd\.service\n {2}systemctl daemon-reload\n {2}rm -rf \/var\/lib\/banger\n/);
  assert.deepEqual(dry.calls, []);
});
