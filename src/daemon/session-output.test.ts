/**
 * A guest session's output and input through the daemon's routes, on a fake-driver VM (its guest is
 * this host through `sshd -i`): the output from an offset or its last bytes with the start in a
 * header, a follow that shows what the session writes (input sent through the daemon included) and
 * ends with it, the end of the guest's reader when the client goes away, and the refusals.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { ApiClient } from '../api/client.js';
import { BangerError } from '../api/errors.js';
import { ROUTES } from '../api/routes.js';
import { SESSION_OFFSET_HEADER } from '../api/sessions.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';

const until = async (what: string, fn: () => boolean | Promise<boolean>, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** The processes of this host (the fake guest) reading session `name`'s output. */
function readersOf(name: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.startsWith('tail\0') && cmd.includes(`/sessions/${name}/output`)) pids.push(Number(d));
  }
  return pids;
}

async function refusal(p: Promise<unknown>): Promise<BangerError> {
  const err = await p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BangerError, String(err));
  return err;
}

describe('session output and input routes (fake driver)', () => {
  let h: CliHarness;
  let c: ApiClient;
  const vm = { name: 'box' };
  const start = (name: string, script: string) => c.run(ROUTES.vmSessionStart, vm, { name, command: ['sh', '-c', script] }, () => undefined);
  const logs = (session: string, query: Record<string, string> = {}, signal?: AbortSignal) =>
    c.stream(ROUTES.vmSessionLogs, { ...vm, session }, { query, ...(signal ? { signal } : {}) });
  const text = async (res: IncomingMessage) => {
    let s = '';
    for await (const chunk of res) s += (chunk as Buffer).toString('utf8');
    return s;
  };

  before(async () => {
    h = await tinyImageHome();
    c = h.client();
    const r = await h.run(['vm', 'create', '--name', 'box']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.run(['vm', 'delete', 'box']);
    await h.cleanup();
    // The fake guest is this host: its session files are in this user's home.
    for (const n of ['route-count', 'route-echo', 'route-idle']) rmSync(join(userInfo().homedir, '.cache/banger/sessions', n), { recursive: true, force: true });
  });

  it('answers the output from an offset or its last bytes, with where it starts in a header', async () => {
    await start('route-count', 'printf "one\\ntwo\\nthree\\n"');
    await until('the end', async () => (await c.call(ROUTES.vmSessionShow, { ...vm, session: 'route-count' })).state === 'exited');
    const read = async (query: Record<string, string>) => {
      const res = await logs('route-count', query);
      return [res.headers[SESSION_OFFSET_HEADER], await text(res)];
    };
    assert.deepEqual(await read({}), ['0', 'one\ntwo\nthree\n']);
    assert.deepEqual(await read({ offset: '4' }), ['4', 'two\nthree\n']);
    assert.deepEqual(await read({ tail: '6' }), ['8', 'three\n']);
    assert.deepEqual(await read({ tail: '1000' }), ['0', 'one\ntwo\nthree\n']);
    assert.deepEqual(await read({ offset: '14' }), ['14', '']);
    assert.deepEqual(await read({ follow: '1' }), ['0', 'one\ntwo\nthree\n'], 'an ended session: follow answers what there is and ends');
    const err = await refusal(c.call(ROUTES.vmSessionSend, { ...vm, session: 'route-count' }, { data: 'late\n' }));
    assert.equal(err.code, 'not_running');
    assert.match(err.message, /session route-count in vm box has ended/);
  });

  it('follows a running session: what it writes appears, input goes in through the daemon, the answer ends with the session', async () => {
    await start('route-echo', 'echo ready; while read l; do echo "got $l"; done');
    const res = await logs('route-echo', { follow: '1' });
    assert.equal(res.headers[SESSION_OFFSET_HEADER], '0');
    let out = '';
    let ended = false;
    res.on('data', (b: Buffer) => (out += b.toString('utf8')));
    res.on('end', () => (ended = true));
    await until('the first line', () => out === 'ready\n');
    assert.deepEqual(await c.call(ROUTES.vmSessionSend, { ...vm, session: 'route-echo' }, { data: 'ping\n' }), { sent: 5 });
    await until('the answer', () => out === 'ready\ngot ping\n');
    const stopped = await c.run(ROUTES.vmSessionStop, { ...vm, session: 'route-echo' }, undefined, () => undefined);
    assert.equal(stopped.state, 'exited');
    assert.equal(stopped.exitStatus, 143);
    await until('the end of the answer', () => ended, 5_000);
    // The runner's shell reports the signal that ended the command, as a shell in a terminal does.
    assert.equal(out, 'ready\ngot ping\nTerminated\n');
    const rest = await logs('route-echo', { offset: '6' });
    assert.equal(await text(rest), 'got ping\nTerminated\n', 'a client that lost the follow picks up at the bytes it had');
  });

  it('ends the reader in the guest when the client goes away', async () => {
    await start('route-idle', 'echo hi; exec sleep 600');
    const ac = new AbortController();
    const res = await logs('route-idle', { follow: '1' }, ac.signal);
    res.on('error', () => undefined);
    await new Promise((r) => res.once('data', r));
    await until('a reader in the guest', () => readersOf('route-idle').length === 1);
    ac.abort();
    await until('no reader left', () => readersOf('route-idle').length === 0, 10_000);
    await c.run(ROUTES.vmSessionKill, { ...vm, session: 'route-idle' }, {}, () => undefined);
  });

  it('refuses bad queries and input, unknown sessions, and a stopped VM, with a hint', async () => {
    for (const [query, re] of [
      [{ offset: '1', tail: '2' }, /give offset or tail, not both/],
      [{ offset: '-1' }, /offset must be a whole number of bytes/],
      [{ tail: 'lots' }, /tail must be a whole number of bytes/],
      [{ follow: 'yes' }, /follow must be 1 or 0/],
      [{ since: '1' }, /unknown query parameter "since"/],
    ] as const) {
      const err = await refusal(logs('route-count', query));
      assert.equal(err.code, 'bad_request', err.message);
      assert.match(err.message, re);
    }
    let err = await refusal(logs('nope'));
    assert.equal(err.code, 'not_found');
    assert.match(err.message, /vm box has no session "nope"/);
    assert.match(err.hint ?? '', /banger vm session list box/);
    err = await refusal(c.call(ROUTES.vmSessionSend, { ...vm, session: 'route-count' }, { data: '' }));
    assert.equal(err.code, 'bad_request');
    err = await refusal(c.call(ROUTES.vmSessionSend, { ...vm, session: 'route-count' }, { data: 'x'.repeat(64 * 1024 + 1) }));
    assert.match(err.message, /at most 65536 go in one send/);

    const r = await h.run(['vm', 'stop', 'box']);
    assert.equal(r.code, 0, r.stderr);
    err = await refusal(logs('route-count'));
    assert.equal(err.code, 'not_running');
    assert.match(err.hint ?? '', /banger vm start box/);
  });
});
