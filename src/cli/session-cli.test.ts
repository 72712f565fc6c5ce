/**
 * Guest sessions through the CLI on a fake-driver VM (its guest is this host through `sshd -i`, so
 * sessions run here detached with setsid, as in a guest without systemd): start, list, show, logs,
 * send, attach, stop, kill, rm; a daemon SIGKILL in between; the refusals for bad input.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { PingResult } from '../api/types.js';
import type { SessionInfo } from '../api/sessions.js';
import { pidAlive, signalProcess, waitForExit } from '../system/proc.js';
import { which } from '../system/exec.js';
import { GUEST_NO_PROXY } from '../model/guest-proxy.js';
import { EGRESS_PROXY_URL } from '../services/network/egress-proxy.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';
import { runCli } from './main.js';

const until = async (what: string, fn: () => Promise<boolean>, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('vm session (fake driver)', () => {
  let h: CliHarness;
  const json = async <T>(...args: string[]): Promise<T> => {
    const r = await h.run(['--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  };
  const logs = async (name: string) => {
    const r = await h.run(['vm', 'session', 'logs', 'box', name]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  before(async () => {
    h = await tinyImageHome();
    const r = await h.run(['vm', 'create', '--name', 'box']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.run(['vm', 'delete', 'box']);
    await h.cleanup();
  });

  it('refuses bad names, a missing command and a relative cwd before touching the guest', async () => {
    let r = await h.run(['vm', 'session', 'start', 'box', '--name', 'Bad_Name', '--', 'true']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /session name "Bad_Name" has invalid character "B"/);
    r = await h.run(['vm', 'session', 'start', 'box', '--name', 'x'.repeat(33), '--', 'true']);
    assert.match(r.stderr, /max is 32/);
    r = await h.run(['vm', 'session', 'start', 'box']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /needs a command after --/);
    r = await h.run(['vm', 'session', 'start', 'box', '--cwd', 'rel', '--', 'true']);
    assert.match(r.stderr, /not an absolute guest path/);
    r = await h.run(['vm', 'session', 'show', 'box', 'nope']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /vm box has no session "nope"/);
    assert.deepEqual(await json('vm', 'session', 'list', 'box'), []);
  });

  it('send reaches its stdin, logs shows its output, kill ends it and records the status', async () => {
    const s = await json<SessionInfo>('vm', 'session', 'start', 'box', '--name', 'echo', '--', 'sh', '-c', 'echo started; while read l; do echo "got $l"; done');
    assert.equal(s.state, 'running');
    assert.deepEqual(s.command, ['sh', '-c', 'echo started; while read l; do echo "got $l"; done']);
    const dup = await h.run(['vm', 'session', 'start', 'box', '--name', 'echo', '--', 'true']);
    assert.equal(dup.code, 4, dup.stderr);
    assert.match(dup.stderr, /already has a session named echo/);
    let r = await h.run(['vm', 'session', 'send', 'box', 'echo', 'one']);
    assert.equal(r.code, 0, r.stderr);
    r = await h.run(['vm', 'session', 'send', 'box', 'echo', 'two']);
    assert.equal(r.code, 0, r.stderr);
    await until('both lines', async () => (await logs('echo')) === 'started\ngot one\ngot two\n');
    const killed = await json<SessionInfo>('vm', 'session', 'kill', 'box', 'echo');
    assert.equal(killed.state, 'exited');
    assert.equal(killed.exitStatus, 137);
    assert.ok(killed.endedAt);
    const list = await json<SessionInfo[]>('vm', 'session', 'list', 'box');
    assert.deepEqual(list.map((x) => [x.name, x.state, x.exitStatus]), [['echo', 'exited', 137]]);
    r = await h.run(['vm', 'session', 'send', 'box', 'echo', 'three']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /session echo in vm box has ended/);
    // The runner's shell reports the signal that ended the command, as a shell in a terminal does.
    assert.match(await logs('echo'), /^started\ngot one\ngot two\nKilled\n$/, 'output stays readable after the end');
    r = await h.run(['vm', 'session', 'rm', 'box', 'echo']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await json('vm', 'session', 'list', 'box'), []);
  });

  it('runs in --cwd; an exit status of its own is shown; logs -f follows until it ends', async () => {
    await json<SessionInfo>('vm', 'session', 'start', 'box', '--name', 'cwd', '--cwd', '/tmp', '--', 'sh', '-c', 'pwd; sleep 1; echo done; exit 3');
    const f = await h.run(['vm', 'session', 'logs', 'box', 'cwd', '-f']);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout, '/tmp\ndone\n');
    const shown = await json<SessionInfo>('vm', 'session', 'show', 'box', 'cwd');
    assert.equal(shown.state, 'exited');
    assert.equal(shown.exitStatus, 3);
    assert.equal(shown.cwd, '/tmp');
    const r = await h.run(['vm', 'session', 'rm', 'box', 'cwd']);
    assert.equal(r.code, 0, r.stderr);
  });

  it("a session has the proxy settings vm exec has (the guest's /etc/environment), with or without a terminal", { skip: which('socat') ? undefined : 'socat (the egress connector) is not installed' }, async () => {
    const show = 'echo "proxy=$http_proxy|$https_proxy|$HTTPS_PROXY|$no_proxy home=$HOME ssh=${SSH_CONNECTION:-none}"';
    const viaExec = await h.run(['vm', 'exec', 'box', '--', 'sh', '-c', 'echo "$http_proxy"']);
    assert.equal(viaExec.stdout, `${EGRESS_PROXY_URL}\n`, viaExec.stderr);
    const want = `proxy=${EGRESS_PROXY_URL}|${EGRESS_PROXY_URL}|${EGRESS_PROXY_URL}|${GUEST_NO_PROXY} home=`;
    await json<SessionInfo>('vm', 'session', 'start', 'box', '--name', 'env', '--', 'sh', '-c', show);
    await json<SessionInfo>('vm', 'session', 'start', 'box', '--name', 'env-tty', '--tty', '--', 'sh', '-c', show);
    for (const name of ['env', 'env-tty']) {
      await until(`${name} to end`, async () => (await json<SessionInfo>('vm', 'session', 'show', 'box', name)).state === 'exited');
      const out = await logs(name);
      assert.ok(out.startsWith(want), `${name}: ${out}`);
      assert.match(out, /ssh=none\r?\n$/, `${name}: the session's environment is its own, not the ssh command's that started it`);
      assert.equal((await h.run(['vm', 'session', 'rm', 'box', name])).code, 0);
    }
  });

  it('a generated name; stop sends SIGTERM; rm refuses a running session', async () => {
    const s = await json<SessionInfo>('vm', 'session', 'start', 'box', '--', 'sleep', '600');
    assert.match(s.name, /^[a-z]+-[a-z]+(-\d+)?$/);
    const rm = await h.run(['vm', 'session', 'rm', 'box', s.name]);
    assert.equal(rm.code, 2, rm.stderr);
    assert.match(rm.stderr, /still running/);
    const stopped = await json<SessionInfo>('vm', 'session', 'stop', 'box', s.name);
    assert.equal(stopped.state, 'exited');
    assert.equal(stopped.exitStatus, 143);
    assert.equal((await h.run(['vm', 'session', 'rm', 'box', s.name])).code, 0);
  });

  it('attach streams output and forwards input; the end of input detaches and the session keeps running', async () => {
    await json<SessionInfo>('vm', 'session', 'start', 'box', '--name', 'cat', '--', 'sh', '-c', 'while read l; do echo "cat: $l"; done');
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const done = runCli(['vm', 'session', 'attach', 'box', 'cat'], { stdin, stdout, stderr, env: h.env });
    stdin.write('hello\n');
    await until('the echo', () => Promise.resolve(out.includes('cat: hello\n')));
    stdin.end();
    assert.equal(await done, 0, err);
    assert.match(err, /detached from cat; it keeps running/);
    const shown = await json<SessionInfo>('vm', 'session', 'show', 'box', 'cat');
    assert.equal(shown.state, 'running');
  });

  it('survives a daemon SIGKILL: the next daemon still sees it running and reaches its stdin', async () => {
    const first = (await h.client().get<PingResult>('/ping')).pid;
    signalProcess(first, 'SIGKILL');
    assert.ok(await waitForExit(first, 5000));
    const shown = await json<SessionInfo>('vm', 'session', 'show', 'box', 'cat');
    assert.notEqual((await h.client().get<PingResult>('/ping')).pid, first, 'a new daemon answers');
    assert.equal(shown.state, 'running');
    const r = await h.run(['vm', 'session', 'send', 'box', 'cat', 'again']);
    assert.equal(r.code, 0, r.stderr);
    await until('the echo', async () => (await logs('cat')).endsWith('cat: hello\ncat: again\n'));
    const killed = await json<SessionInfo>('vm', 'session', 'kill', 'box', 'cat', '--signal', 'TERM');
    assert.equal(killed.exitStatus, 143);
  });

  it('on a stopped VM: list and show answer from the store, the rest is not_running; delete removes the sessions', async () => {
    await json<SessionInfo>('vm', 'session', 'start', 'box', '--name', 'left', '--', 'sleep', '600');
    const pid = Number((await h.run(['vm', 'exec', 'box', '--', 'sh', '-c', 'cat "$HOME/.cache/banger/sessions/left/pid"'])).stdout.trim());
    assert.ok(pid > 0 && pidAlive(pid));
    let r = await h.run(['vm', 'stop', 'box']);
    assert.equal(r.code, 0, r.stderr);
    // The fake guest is this host: what the VM's power-off would end, the test ends.
    signalProcess(pid, 'SIGKILL');
    const list = await json<SessionInfo[]>('vm', 'session', 'list', 'box');
    assert.deepEqual(list.map((x) => [x.name, x.state]), [['cat', 'exited'], ['left', 'unknown']]);
    for (const args of [['logs', 'box', 'left'], ['send', 'box', 'left', 'x'], ['stop', 'box', 'left'], ['kill', 'box', 'left'], ['start', 'box', '--', 'true']]) {
      r = await h.run(['vm', 'session', ...args]);
      assert.equal(r.code, 6, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /vm box is not running/);
      assert.match(r.stderr, /banger vm start box/);
    }
    r = await h.run(['vm', 'delete', 'box']);
    assert.equal(r.code, 0, r.stderr);
    r = await h.run(['vm', 'create', '--name', 'box']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await json('vm', 'session', 'list', 'box'), []);
  });
});
