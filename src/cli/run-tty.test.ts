/**
 * `banger vm run -- cmd` in a terminal behaves as the command would in a local shell: it gets a
 * terminal of the same size, TERM, and Ctrl-C reaches it (not banger). The terminal is a real pty
 * made by util-linux `script`; the VM a fake-driver one (its guest is this host through `sshd -i`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CliHarness } from '../testing/cli-harness.js';
import { hasScript, inTerminal, until } from '../testing/terminal.js';
import { tinyImageHome } from '../testing/tiny-image.js';

describe('vm run -- cmd in a terminal', { skip: hasScript() ? undefined : 'script (util-linux) is not installed' }, () => {
  let h: CliHarness;
  before(async () => {
    h = await tinyImageHome();
  });
  after(async () => {
    await h.cleanup();
  });

  it('the command gets a terminal of the same size and TERM, and its exit status comes back', async () => {
    const t = inTerminal(h, ['vm', 'run', '--rm', '--', 'sh', '-c', 'test -t 0 && test -t 1 && echo is-a-tty; stty size; echo "term=$TERM"; exit 5']);
    assert.equal(await t.exit, 5, t.output());
    assert.match(t.output(), /is-a-tty\r?\n43 132\r?\nterm=xterm-256color\r?\n/);
  });

  it('Ctrl-C reaches the command in the guest, which handles it; banger exits with its status', async () => {
    const t = inTerminal(h, ['vm', 'run', '--rm', '--', 'sh', '-c', 'trap "echo got-sigint; exit 7" INT; echo guest-is-waiting; while :; do sleep 0.1; done']);
    await until('the command to start', () => t.output().includes('guest-is-waiting'));
    t.write('\x03');
    assert.equal(await t.exit, 7, t.output());
    assert.match(t.output(), /got-sigint/);
  });
});
