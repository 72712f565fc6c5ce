/**
 * Terminal sessions through the CLI in a real terminal (a pty made by util-linux `script`) on a
 * fake-driver VM (its guest is this host through `sshd -i`): the session's program sees a terminal
 * that follows the attached window's size, Ctrl-C reaches it, the detach keys leave it running, and
 * a re-attach (after a daemon SIGKILL) shows what it wrote meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionInfo } from '../api/sessions.js';
import type { PingResult } from '../api/types.js';
import { signalProcess, waitForExit } from '../system/proc.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { hasScript, inTerminal, until } from '../testing/terminal.js';
import { tinyImageHome } from '../testing/tiny-image.js';

/** Says whether it has a terminal and its size; again at every SIGWINCH; "got-sigint" on SIGINT. */
const PROGRAM = [
  'sh',
  '-c',
  'trap \'echo "size $(stty size)"\' WINCH; trap "echo got-sigint" INT; ' +
    'echo "tty=$(test -t 0 && test -t 2 && echo yes) term=$TERM start-size $(stty size)"; while :; do sleep 0.1; done',
];

describe('vm session --tty in a terminal (fake driver)', { skip: hasScript() ? undefined : 'script (util-linux) is not installed' }, () => {
  let h: CliHarness;
  const json = async <T>(...args: string[]): Promise<T> => {
    const r = await h.run(['--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  };
  before(async () => {
    h = await tinyImageHome();
    const r = await h.run(['vm', 'create', '--name', 'box']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    // The fake guest is this host: a session a failed test left running would outlive its VM.
    for (const name of ['tt', 'ask']) await h.run(['vm', 'session', 'kill', 'box', name]);
    await h.run(['vm', 'delete', 'box']);
    await h.cleanup();
  });

  it('attach follows the window size, passes Ctrl-C on, and Ctrl-] detaches with the session still running', async () => {
    const s = await json<SessionInfo>('vm', 'session', 'start', 'box', '--tty', '--name', 'tt', '--', ...PROGRAM);
    assert.equal(s.tty, true);
    const logs = await h.run(['vm', 'session', 'logs', 'box', 'tt']);
    assert.match(logs.stdout, /tty=yes term=xterm-256color start-size 24 80\r\n/, 'started outside a terminal: 24 by 80');

    const t = inTerminal(h, ['vm', 'session', 'attach', 'box', 'tt']);
    await until('its size to follow the window', () => /size 43 132/.test(t.output()));
    assert.match(t.output(), /start-size 24 80/, 'what it wrote before the attach is shown');
    await t.resize(30, 100);
    await until('the new size', () => /size 30 100/.test(t.output()));
    t.write('\x03');
    await until('the program to handle SIGINT', () => t.output().includes('got-sigint'));
    t.write('\x1d');
    assert.equal(await t.exit, 0, t.output());
    assert.match(t.output(), /detached from tt; it keeps running/);
    assert.equal((await json<SessionInfo>('vm', 'session', 'show', 'box', 'tt')).state, 'running', 'Ctrl-C went to the program, not to the session');

    // The session outlives the daemon: a SIGKILL'd one is replaced by the next command.
    const daemon = (await h.client().get<PingResult>('/ping')).pid;
    signalProcess(daemon, 'SIGKILL');
    assert.ok(await waitForExit(daemon, 5000));
    const again = inTerminal(h, ['vm', 'session', 'attach', 'box', 'tt', '--detach-keys', 'ctrl-p,ctrl-q'], { rows: 50, cols: 90 });
    await until('the size of the new window', () => /size 50 90/.test(again.output()));
    assert.match(again.output(), /got-sigint/, 'a re-attach shows the recent output');
    again.write('\x1d\x10\x11');
    assert.equal(await again.exit, 0, again.output());
    assert.match(again.output(), /detached from tt/);
    const stopped = await json<SessionInfo>('vm', 'session', 'stop', 'box', 'tt');
    assert.equal(stopped.exitStatus, 143);
  });

  it('start -t -a from a terminal: the window size from the start, typed lines echoed, attach ends with the session', async () => {
    const t = inTerminal(h, ['vm', 'session', 'start', 'box', '-t', '-a', '--name', 'ask', '--', 'sh', '-c', 'echo "size $(stty size)"; read x; echo "read:$x"; exit 4']);
    await until('the program to start', () => /size 43 132/.test(t.output()));
    t.write('hello\r');
    assert.equal(await t.exit, 0, t.output());
    assert.match(t.output(), /hello\r+\nread:hello/, 'the terminal echoes what is typed');
    assert.match(t.output(), /session ask ended: exited \(4\)/);
  });
});
