/**
 * The guest channel's script run on the host with /bin/sh, as the guest's socket-activated service
 * runs it: one command on stdin, one answer on stdout. `ports` runs the host's real ss.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, which } from '../system/exec.js';
import { CHANNEL_PORT, CHANNEL_SCRIPT, CHANNEL_SOCKET_UNIT, SETTLE_IDLE_PERCENT, SETTLE_QUIET_WINDOWS, SETTLE_WINDOW_S } from './channel.js';
import { channelWord } from './reidentify.js';

describe('guest channel script', () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-channel-'));
  const script = join(dir, 'banger-channel');
  const proc = join(dir, 'proc');
  let server: Server;
  let port = 0;

  before(async () => {
    writeFileSync(script, CHANNEL_SCRIPT, { mode: 0o755 });
    mkdirSync(proc);
    writeFileSync(join(proc, 'uptime'), '1234.56 789.00\n');
    server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = async (input: string, env: NodeJS.ProcessEnv = {}) => (await run(['/bin/sh', script], { input, env: { ...process.env, BANGER_PROC: proc, ...env } })).stdout;

  it('the socket unit listens on the vsock port and hands each connection to its own service', () => {
    assert.match(CHANNEL_SOCKET_UNIT, new RegExp(`^ListenStream=vsock::${CHANNEL_PORT}$`, 'm'));
    assert.match(CHANNEL_SOCKET_UNIT, /^Accept=yes$/m);
  });

  it('identity runs the escaped script in a subshell and answers with its output; anything else is refused', async () => {
    const word = channelWord("set -eu\nx='one two'\nprintf '%s\\n' \"$x\"\necho banger-identity-ok\n");
    assert.equal(await ask(`identity ${word}\n`), 'one two\nbanger-identity-ok\n');
    assert.equal(await ask('identity `reboot`\n'), 'error identity needs one escaped argument\n');
    assert.equal(await ask('identity\n'), 'error identity needs one escaped argument\n');
  });

  /**
   * settle against a stand-in /proc/stat: each window (a stand-in sleep) advances it by 100 jiffies of
   * which `idle[i]` are idle, and sets the tasks of udevd's service to `tasks[i]` (1 when not given);
   * the stand-ins log their arguments.
   */
  async function settle(arg: string, idle: number[], tasks: number[] = []): Promise<{ answer: string; sleeps: string[]; udevadm: string[] }> {
    const d = mkdtempSync(join(dir, 'settle-'));
    mkdirSync(join(d, 'proc'));
    mkdirSync(join(d, 'bin'));
    let total = 0;
    let spare = 0;
    const lines = [idle[0] ?? 0, ...idle].map((i, n) => {
      if (n > 0) {
        total += 100;
        spare += i;
      }
      return `cpu  ${total - spare} 0 0 ${spare} 0 0 0 0 0 0`;
    });
    writeFileSync(join(d, 'stats'), lines.join('\n') + '\n');
    writeFileSync(join(d, 'proc', 'stat'), `${lines[0]}\ncpu0 0 0 0 0 0 0 0 0 0 0\n`);
    const taskLines = [tasks[0] ?? 1, ...idle.map((_, i) => tasks[i] ?? 1)];
    writeFileSync(join(d, 'tasks'), taskLines.join('\n') + '\n');
    writeFileSync(join(d, 'pids.current'), `${taskLines[0]}\n`);
    writeFileSync(join(d, 'n'), '1\n');
    writeFileSync(
      join(d, 'bin', 'sleep'),
      `#!/bin/sh\necho "$*" >> ${d}/sleeps\nn=$(($(cat ${d}/n) + 1)); echo $n > ${d}/n\nline=$(sed -n "\${n}p" ${d}/stats); [ -n "$line" ] || line=$(tail -n 1 ${d}/stats)\necho "$line" > ${d}/proc/stat\n` +
        `t=$(sed -n "\${n}p" ${d}/tasks); echo "\${t:-1}" > ${d}/pids.current\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(d, 'bin', 'udevadm'), `#!/bin/sh\necho "$*" >> ${d}/udevadm\n`, { mode: 0o755 });
    const answer = await ask(`settle ${arg}\n`, { BANGER_PROC: join(d, 'proc'), BANGER_UDEV_PIDS: join(d, 'pids.current'), PATH: `${join(d, 'bin')}:${process.env.PATH ?? ''}` });
    const read = (f: string) => { try { return readFileSync(join(d, f), 'utf8').trim().split('\n').filter(Boolean); } catch { return []; } };
    return { answer, sleeps: read('sleeps'), udevadm: read('udevadm') };
  }

  it('settle waits for udev\'s queue, then until the CPUs have been idle for a second', async () => {
    assert.equal(SETTLE_QUIET_WINDOWS * SETTLE_WINDOW_S, 1);
    const busy = 100 - SETTLE_IDLE_PERCENT - 30;
    const quiet = SETTLE_IDLE_PERCENT + 5;
    const r = await settle('15', [busy, busy, busy, quiet, busy, ...Array<number>(10).fill(quiet)]);
    assert.equal(r.answer, 'ok settled\n');
    assert.deepEqual(r.udevadm, ['settle --timeout=15']);
    // Five windows before the quiet run (one of them quiet but followed by a busy one), then the quiet run.
    assert.equal(r.sleeps.length, 5 + SETTLE_QUIET_WINDOWS);
    assert.ok(r.sleeps.every((x) => x === String(SETTLE_WINDOW_S)), r.sleeps.join(' '));
  });

  it('settle waits for udev\'s idle workers to end, however quiet the CPUs are', async () => {
    const quiet = SETTLE_IDLE_PERCENT + 5;
    // udevd and four workers until the sixth window ends, then udevd alone: two quiet windows after that.
    const r = await settle('15', Array<number>(15).fill(quiet), [5, 5, 5, 5, 5, 5]);
    assert.equal(r.answer, 'ok settled\n');
    assert.equal(r.sleeps.length, 6 + SETTLE_QUIET_WINDOWS, r.sleeps.join(' '));
    // Without the file (no cgroup v2, or no udevd service) there is nothing to wait for.
    const none = await settle('15', Array<number>(15).fill(quiet), []);
    assert.equal(none.sleeps.length, SETTLE_QUIET_WINDOWS);
  });

  it('settle gives up after its seconds on a guest that stays busy, and takes only a number', async () => {
    const r = await settle('2', Array<number>(40).fill(10));
    assert.equal(r.answer, 'ok busy\n');
    assert.equal(r.sleeps.length, 2 / SETTLE_WINDOW_S + 1);
    for (const bad of ['', 'x', '1;reboot', '-1']) assert.equal((await settle(bad, [])).answer, 'error usage: settle SECONDS\n', bad);
  });

  it('health answers ok with the uptime', async () => {
    assert.equal(await ask('health\n'), 'ok 1234.56\n');
  });

  it('ports lists what listens, as ss prints it (this test\'s own listener included)', { skip: which('ss') ? undefined : 'ss (iproute2) was missing' }, async () => {
    const out = await ask('ports\n');
    assert.match(out, new RegExp(`^tcp\\s+LISTEN\\s.*127\\.0\\.0\\.1:${port}\\s`, 'm'));
  });

  it('ports without ss says what is missing; an unknown command and an empty connection get no listing', async () => {
    assert.equal(await ask('ports\n', { PATH: '/nonexistent' }), 'error ss is not installed (Debian package iproute2)\n');
    assert.equal(await ask('reboot\n'), 'error unknown command\n');
    assert.equal(await ask(''), '');
  });
});
