/**
 * `banger vm run -- cmd` in a terminal behaves as the command would in a local shell: it gets a
 * terminal of the same size, TERM, and Ctrl-C reaches it (not banger). The terminal is a real pty
 * made by util-linux `script`; the VM a fake-driver one (its guest is this host through `sshd -i`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnPiped, which } from '../system/exec.js';
import { shellJoin } from '../drivers/ssh/client.js';
import type { CliHarness } from '../testing/cli-harness.js';
import { tinyImageHome } from '../testing/tiny-image.js';

const BANGER = fileURLToPath(new URL('../bin/banger.js', import.meta.url));

interface InTerminal {
  output: () => string;
  write: (s: string) => void;
  exit: Promise<number | null>;
}

/** Runs banger in a fresh pty of 43 rows and 132 columns, TERM=xterm-256color. */
function inTerminal(h: CliHarness, args: string[]): InTerminal {
  const line = `stty rows 43 cols 132; exec ${shellJoin([process.execPath, BANGER, ...args])}`;
  const child = spawnPiped(['script', '-qefc', line, '/dev/null'], { env: { ...h.env, TERM: 'xterm-256color' } });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return {
    output: () => out,
    write: (s) => child.stdin.write(s),
    exit: new Promise((r) => child.once('close', (code) => r(code))),
  };
}

const until = async (what: string, fn: () => boolean, ms = 60_000) => {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('vm run -- cmd in a terminal', { skip: which('script') ? undefined : 'script (util-linux) is not installed' }, () => {
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
