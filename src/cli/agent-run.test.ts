/**
 * `banger vm run -- <agent>` as a coding agent needs it, on a fake-driver VM (its guest is this host
 * through `sshd -i`) in a real terminal (a pty made by util-linux `script`): the credentials file a
 * `[[file_sync]]` entry names is in place, with its mode, before the command runs, and the command
 * gets the terminal's size, TERM and COLORTERM.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliHarness } from '../testing/cli-harness.js';
import { hasScript, inTerminal } from '../testing/terminal.js';
import { tinyImageHome } from '../testing/tiny-image.js';

const AUTH = '{"token":"sk-test-123"}';

describe('vm run -- an agent in a terminal (fake driver)', { skip: hasScript() ? undefined : 'script (util-linux) is not installed' }, () => {
  let h: CliHarness;
  const hostDir = mkdtempSync(join(tmpdir(), 'banger-agent-'));
  before(async () => {
    h = await tinyImageHome();
    writeFileSync(join(hostDir, 'auth.json'), AUTH, { mode: 0o644 });
    appendFileSync(join(h.home, 'config.toml'), `\n[[file_sync]]\nhost = "${join(hostDir, 'auth.json')}"\nguest = "~/.config/xyz/auth.json"\n`);
    // The daemon reads the config at start.
    const r = await h.run(['daemon', 'stop']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.cleanup();
    rmSync(hostDir, { recursive: true, force: true });
  });

  it("the file_sync'd credentials are in the guest home, mode 0600, before the command runs; it gets the terminal's size, TERM and COLORTERM", async () => {
    const agent = 'f=$HOME/.config/xyz/auth.json; echo "auth $(stat -c %a "$f") $(cat "$f")"; echo "term=$TERM colorterm=$COLORTERM size=$(stty size) tty=$(test -t 0 && test -t 2 && echo yes)"';
    const t = inTerminal(h, ['vm', 'run', '--rm', '--', 'sh', '-c', agent], { rows: 40, cols: 120 }, { COLORTERM: 'truecolor' });
    assert.equal(await t.exit, 0, t.output());
    assert.match(t.output(), /auth 600 \{"token":"sk-test-123"\}\r?\n/);
    assert.match(t.output(), /term=xterm-256color colorterm=truecolor size=40 120 tty=yes/);
  });
});
