/**
 * Contexts over ssh:// against a real OpenSSH server on 127.0.0.1: the "remote" host is this machine with
 * another BANGER_HOME (set, with PATH, by the authorized_keys entry), driven through the built CLI.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PingResult, VMInfo } from '../api/types.js';
import { freePort, sshdUnavailable } from '../drivers/ssh/sshd-fixture.js';
import { runUnchecked, spawnPiped } from '../system/exec.js';
import { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';
import { BANGER_JS, startContextHost, type ContextHost } from '../testing/context-host.js';
import type { FakeKnobs } from '../drivers/fake/options.js';
import { Banger } from '../sdk/index.js';
import { randomBytes } from 'node:crypto';

const unavailable = await sshdUnavailable();

/** A daemon home with the fake driver and a tiny registered image, as the remote side. */
function remoteHome(fake: FakeKnobs): Promise<CliHarness> {
  return tinyImageHome(fake, { sshWaitTimeout: '90s' });
}

describe('remote contexts over ssh', unavailable ? { skip: unavailable } : {}, () => {
  let remote: CliHarness;
  let slow: CliHarness;
  let host: ContextHost | undefined;
  const local = new CliHarness();
  const dir = join(local.home, 'fixture');
  let url = '';
  let sshOpts: string[] = [];
  let noBangerOpts: string[] = [];

  /** The built CLI as a child process, with the client's environment. */
  const cli = (args: string[], timeoutMs = 60_000) => runUnchecked([process.execPath, BANGER_JS, ...args], { env: local.env, timeoutMs });

  before(async () => {
    remote = await remoteHome({});
    slow = await remoteHome({ bootDelayMs: 60_000 });
    host = await startContextHost(dir, remote.home);
    ({ url, sshOpts, noBangerOpts } = host);
  });

  after(async () => {
    for (const name of ['big', 'slow', 'nobanger', 'down']) await local.run(['context', 'rm', name]);
    await remote?.run(['vm', 'delete', 'r1']);
    await remote?.cleanup();
    await slow?.cleanup();
    await host?.stop();
    await local.cleanup();
  });

  it('creates, lists, uses, shows and removes contexts; rejects bad names and URLs', async () => {
    const bad = await local.run(['context', 'create', 'Bad_Name', '--host', url]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid context name/);
    const http = await local.run(['context', 'create', 'web', '--host', 'https://example.com']);
    assert.equal(http.code, 2);
    assert.match(http.stderr, /only ssh:\/\/ is supported/);

    assert.equal((await local.run(['context', 'create', 'big', '--host', url, ...sshOpts])).code, 0);
    const dup = await local.run(['context', 'create', 'big', '--host', url]);
    assert.equal(dup.code, 4);
    assert.equal((await local.run(['context', 'create', 'gone', '--host', 'ssh://nowhere.invalid'])).code, 0);
    assert.equal((await local.run(['context', 'use', 'big'])).code, 0);

    const ls = await local.run(['--json', 'context', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    const rows = JSON.parse(ls.stdout) as { name: string; current: boolean; reachable: boolean }[];
    assert.deepEqual(rows.map((r) => r.name), ['default', 'big', 'gone']);
    assert.equal(rows.find((r) => r.current)?.name, 'big');
    assert.equal(rows.find((r) => r.name === 'big')?.reachable, true);
    assert.equal(rows.find((r) => r.name === 'gone')?.reachable, false);

    const show = await local.run(['--json', 'context', 'show']);
    assert.equal((JSON.parse(show.stdout) as { name: string }).name, 'big');
    const viaEnv = await local.run(['--json', 'context', 'show'], { BANGER_CONTEXT: 'gone' });
    assert.equal((JSON.parse(viaEnv.stdout) as { source: string }).source, 'env');
    const viaFlag = await local.run(['--json', '--context', 'default', 'context', 'show']);
    assert.equal((JSON.parse(viaFlag.stdout) as { name: string }).name, 'default');

    assert.equal((await local.run(['context', 'rm', 'gone'])).code, 0);
    assert.equal((await local.run(['context', 'use', 'default'])).code, 0);
    const missing = await local.run(['--context', 'gone', 'vm', 'list']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /context gone/);
  });

  it('creates and lists a VM on the remote daemon, and runs a command in it', async () => {
    const created = await local.run(['--context', 'big', 'vm', 'create', '--name', 'r1']);
    assert.equal(created.code, 0, created.stderr);
    const list = await local.run(['--json', '--context', 'big', 'vm', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as VMInfo[]).map((v) => v.name), ['r1']);
    assert.equal((await remote.client().get<VMInfo>('/vms/r1')).state, 'running', 'it lives in the remote home');
    assert.ok(!existsSync(local.layout.socketPath), 'no local daemon was started');
    const status = await local.run(['--json', '--context', 'big', 'daemon', 'status']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { socket: string }).socket, remote.layout.socketPath, 'daemon status runs on the remote host');

    const exec = await cli(['--context', 'big', 'vm', 'exec', 'r1', '--', 'echo', 'hi there']);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, 'hi there\n');
    const failed = await cli(['--context', 'big', 'vm', 'exec', 'r1', '--', 'sh', '-c', 'exit 7']);
    assert.equal(failed.code, 7, 'the guest status passes through both hops');
  });

  it('the SDK takes the same context: the remote VMs, their commands and files go through the hop', async () => {
    const sdk = new Banger({ context: 'big', env: local.env });
    assert.deepEqual((await sdk.vms.list()).map((v) => v.name), ['r1']);
    const vm = await sdk.vms.get('r1');
    const r = await vm.exec(['sh', '-c', 'echo "$1"; echo err >&2; exit 3', 'sh', 'two words']);
    assert.deepEqual(r, { stdout: 'two words\n', stderr: 'err\n', exitCode: 3 });
    const path = `/tmp/banger-ctx-${randomBytes(4).toString('hex')}`;
    const bytes = randomBytes(70_000);
    try {
      await vm.files.write(path, bytes, { mode: 0o600 });
      assert.ok(Buffer.from(await vm.files.read(path)).equals(bytes), 'a binary file round-trips through both hops');
    } finally {
      await vm.exec(['rm', '-f', path]);
    }
    const viaEnv = new Banger({ env: { ...local.env, BANGER_CONTEXT: 'big' } });
    assert.deepEqual((await viaEnv.vms.list()).map((v) => v.name), ['r1']);
    assert.ok(!existsSync(local.layout.socketPath), 'no local daemon was started');
    assert.throws(() => new Banger({ context: 'nope', env: local.env }), /context nope .*does not exist/);
  });

  it('starts the remote daemon on demand after it was stopped', async () => {
    const before = (await remote.client().get<PingResult>('/ping')).pid;
    const stop = await local.run(['--context', 'big', 'daemon', 'stop']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await remote.client().get('/ping').then(() => 'up', () => 'down'), 'down');
    const list = await local.run(['--json', '--context', 'big', 'vm', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as VMInfo[]).map((v) => v.name), ['r1'], 'the new daemon re-adopted the VM');
    assert.notEqual((await remote.client().get<PingResult>('/ping')).pid, before);
  });

  it('parallel first commands on a fresh context share one set-up', async () => {
    assert.equal((await local.run(['context', 'create', 'twin', '--host', url, ...sshOpts])).code, 0);
    const both = await Promise.all([0, 1, 2].map(() => cli(['--json', '--context', 'twin', 'vm', 'list'])));
    for (const r of both) assert.equal(r.code, 0, r.stderr);
    assert.equal((await local.run(['context', 'rm', 'twin'])).code, 0);
  });

  it('Ctrl-C cancels a remote create and leaves no VM', async () => {
    assert.equal((await local.run(['context', 'create', 'slow', '--host', url, '--socket', slow.layout.socketPath, ...sshOpts])).code, 0);
    const child = spawnPiped([process.execPath, BANGER_JS, '--context', 'slow', 'vm', 'create', '--name', 's1'], { env: local.env });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const vms = await slow.client().get<VMInfo[]>('/vms');
      if (vms.some((v) => v.name === 's1' && v.state === 'starting')) break;
      assert.ok(Date.now() < deadline, `the create did not reach the remote daemon: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 1, stderr);
    assert.match(stderr, /vm\.create cancelled/);
    let vms = await slow.client().get<VMInfo[]>('/vms');
    const until = Date.now() + 15_000;
    while (vms.length > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      vms = await slow.client().get<VMInfo[]>('/vms');
    }
    assert.deepEqual(vms, [], stderr);
  });

  it('an unreachable host fails with exit 5 naming the host', async () => {
    const port = await freePort();
    assert.equal((await local.run(['context', 'create', 'down', '--host', `ssh://127.0.0.1:${port}`, ...sshOpts])).code, 0);
    const r = await local.run(['--context', 'down', 'vm', 'list']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}`));
  });

  it('a host without banger says so (exit 5)', async () => {
    assert.equal((await local.run(['context', 'create', 'nobanger', '--host', url, ...noBangerOpts])).code, 0);
    const r = await local.run(['--context', 'nobanger', 'vm', 'list']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /banger is not installed on root@127\.0\.0\.1:\d+/);
    assert.match(r.stderr, /hint:/);
  });
});
