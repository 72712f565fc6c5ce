/** The SSH driver against a real OpenSSH server on 127.0.0.1. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BangerError } from '../../api/errors.js';
import type { SSHTarget } from '../../api/types.js';
import { endSharedConnection, exec, SSHError, waitForSSH, type WaitAttempt } from './client.js';
import { ensureClientKey, generateHostKey, type ClientKey, type KeyPair } from './keys.js';
import { hostAliases, hostKeyAlias, pin } from './known-hosts.js';
import { freePort, loginUser, sshdUnavailable, startSshd, type Sshd } from './sshd-fixture.js';

const unavailable = await sshdUnavailable();
const opts = unavailable ? { skip: unavailable } : {};

const VM = { name: 'sshtest', id: 'a1b2c3' };

let dir: string;
let clientKey: ClientKey;
let hostKey: KeyPair;
let knownHosts: string;

function targetFor(port: number, over: Partial<SSHTarget> = {}): SSHTarget {
  return {
    vm: VM.name,
    host: '127.0.0.1',
    port,
    user: loginUser(),
    keyPath: clientKey.path,
    knownHostsPath: knownHosts,
    hostKeyAlias: hostKeyAlias(VM.id),
    ...over,
  };
}

before(async () => {
  if (unavailable) return;
  dir = await mkdtemp(join(tmpdir(), 'banger-sshd-test-'));
  clientKey = await ensureClientKey(join(dir, 'client', 'id_ed25519'));
  hostKey = await generateHostKey();
  knownHosts = join(dir, 'client', 'known_hosts');
  await pin(knownHosts, hostAliases(VM), hostKey.publicKey);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

void describe('a running sshd', opts, () => {
  let sshd: Sshd | undefined;
  let target: SSHTarget;

  before(async () => {
    const port = await freePort();
    sshd = await startSshd({ dir: join(dir, 'sshd-main'), port, hostKey, authorizedKeys: `${clientKey.publicKey}\n` });
    target = targetFor(port);
  });

  after(async () => {
    await sshd?.stop();
  });

  void test('waitForSSH returns once the pinned key is presented', async () => {
    const attempts: WaitAttempt[] = [];
    await waitForSSH(target, { timeoutMs: 15_000, onAttempt: (a) => attempts.push(a) });
    assert.equal(attempts.at(-1)?.stage, 'ready');
  });

  void test('with a shared connection to make, readiness authenticates only and leaves the connection for what follows', async () => {
    const controlPath = join(dir, 'ctl-ready');
    const shared = { ...target, controlPath };
    const r = await waitForSSH(shared, { timeoutMs: 15_000 });
    assert.equal(r.code, 0);
    await access(controlPath);
    // The next command goes over that connection: it works while a fresh handshake could not (no key at all).
    const viaMaster = await exec({ ...shared, keyPath: join(dir, 'no-such-key') }, ['sh', '-c', 'echo over-the-shared-connection']);
    assert.equal(viaMaster.stdout, 'over-the-shared-connection\n');
    // Ended, it is gone: the keyless command has no connection to ride on any more.
    await endSharedConnection(shared);
    await assert.rejects(access(controlPath), 'the control socket is removed');
    await assert.rejects(exec({ ...shared, keyPath: join(dir, 'no-such-key') }, ['true']), 'no shared connection left');
    await endSharedConnection(shared);
  });

  void test("the readiness check's command runs in its login and its result comes back, a failure included", async () => {
    const ok = await waitForSSH(target, { timeoutMs: 15_000, command: ['sh', '-c', 'echo set >&2'] });
    assert.deepEqual([ok.code, ok.stderr], [0, 'set\n']);
    const failed = await waitForSSH(target, { timeoutMs: 15_000, command: ['sh', '-c', 'exit 3'] });
    assert.equal(failed.code, 3, 'a command that fails is reported, not retried until the deadline');
  });

  void test('exec returns stdout, stderr and the exit status', async () => {
    const ok = await exec(target, ['echo', 'hello']);
    assert.deepEqual(ok, { code: 0, stdout: 'hello\n', stderr: '' });
    const seven = await exec(target, ['sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.deepEqual(seven, { code: 7, stdout: 'out\n', stderr: 'err\n' });
  });

  void test('a remote exit status of 255 is passed through, not taken for an ssh failure', async () => {
    const r = await exec(target, ['sh', '-c', 'echo gone >&2; exit 255']);
    assert.deepEqual(r, { code: 255, stdout: '', stderr: 'gone\n' });
  });

  void test('arguments arrive verbatim: spaces, quotes, expansions, globs, newlines', async () => {
    const marker = join(dir, 'expanded');
    const args = [
      'two words',
      "it's",
      '"double"',
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      '$HOME',
      '${PATH}',
      '*',
      '~',
      '',
      'line1\nline2',
      'back\\slash',
      'a;b && c | d > e',
      '-n',
      '!',
      '#not a comment',
      'tab\there',
      'ünï cødé',
    ];
    const r = await exec(target, ['printf', '%s\\n', ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, args.map((a) => `${a}\n`).join(''));
    await assert.rejects(access(marker), 'a $(...) argument was expanded in the guest');
  });

  void test('stdin is passed to the remote command', async () => {
    const r = await exec(target, ['sh', '-c', 'cat; echo'], { input: 'from stdin' });
    assert.equal(r.stdout, 'from stdin\n');
  });

  void test('a different pinned host key is reported as a possible man-in-the-middle, at once', async () => {
    const other = await generateHostKey();
    const kh = join(dir, 'mitm_known_hosts');
    await pin(kh, hostAliases(VM), other.publicKey);
    const bad = { ...target, knownHostsPath: kh };
    const t0 = Date.now();
    const attempts: WaitAttempt[] = [];
    await assert.rejects(
      waitForSSH(bad, { timeoutMs: 30_000, onAttempt: (a) => attempts.push(a) }),
      (err: unknown) => {
        assert.ok(err instanceof SSHError);
        assert.equal(err.kind, 'host_key_mismatch');
        assert.match(err.message, /man-in-the-middle/);
        assert.match(err.message, new RegExp(VM.name));
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 10_000, 'a mismatch must not be retried until the deadline');
    assert.equal(attempts.filter((a) => a.stage === 'ssh').length, 1);
    await assert.rejects(exec(bad, ['true']), (err: unknown) => err instanceof SSHError && err.kind === 'host_key_mismatch');
  });

  void test('no pinned host key: refused, not trusted on first use', async () => {
    const bad = { ...target, knownHostsPath: join(dir, 'empty_known_hosts') };
    await assert.rejects(waitForSSH(bad, { timeoutMs: 30_000 }), (err: unknown) => err instanceof SSHError && err.kind === 'host_key_unknown');
  });

  void test('a key the guest does not accept: an authentication error after a few tries', async () => {
    const stranger = await ensureClientKey(join(dir, 'stranger', 'id_ed25519'));
    const bad = { ...target, keyPath: stranger.path };
    await assert.rejects(exec(bad, ['true']), (err: unknown) => err instanceof SSHError && err.kind === 'auth');
    const t0 = Date.now();
    await assert.rejects(
      waitForSSH(bad, { timeoutMs: 30_000, intervalMs: 50, maxAuthFailures: 2 }),
      (err: unknown) => err instanceof SSHError && err.kind === 'auth',
    );
    assert.ok(Date.now() - t0 < 15_000);
  });
});

void describe('waiting for a guest', opts, () => {
  void test('waitForSSH succeeds once sshd starts after a delay', async () => {
    const port = await freePort();
    let sshd: Sshd | undefined;
    const attempts: WaitAttempt[] = [];
    try {
      const waiting = waitForSSH(targetFor(port), { timeoutMs: 30_000, intervalMs: 100, onAttempt: (a) => attempts.push(a) });
      await sleep(1500);
      sshd = await startSshd({ dir: join(dir, 'sshd-late'), port, hostKey, authorizedKeys: `${clientKey.publicKey}\n` });
      await waiting;
    } finally {
      await sshd?.stop();
    }
    assert.ok(attempts.filter((a) => a.stage === 'tcp').length >= 3, 'attempts before sshd was up');
    assert.equal(attempts.at(-1)?.stage, 'ready');
  });

  void test('on timeout the error names the VM and points at its logs', async () => {
    const port = await freePort();
    const t0 = Date.now();
    await assert.rejects(waitForSSH(targetFor(port), { timeoutMs: 1500, intervalMs: 100 }), (err: unknown) => {
      assert.ok(err instanceof BangerError);
      assert.equal(err.code, 'operation_failed');
      assert.match(err.message, /vm sshtest /);
      assert.ok(err.hint?.includes('banger vm logs sshtest'), err.hint);
      return true;
    });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1400 && elapsed < 5000, `elapsed ${elapsed} ms`);
  });

  void test('a port that accepts TCP but never speaks SSH still times out on schedule', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    try {
      const t0 = Date.now();
      await assert.rejects(waitForSSH(targetFor(port), { timeoutMs: 2500, intervalMs: 100 }), /did not become reachable/);
      const elapsed = Date.now() - t0;
      assert.ok(elapsed < 7000, `elapsed ${elapsed} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  void test('waitForSSH stops when its signal is aborted', async () => {
    const port = await freePort();
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(waitForSSH(targetFor(port), { timeoutMs: 30_000, intervalMs: 100, signal: ac.signal }), {
      name: 'AbortError',
    });
    assert.ok(Date.now() - t0 < 3000);
  });
});
