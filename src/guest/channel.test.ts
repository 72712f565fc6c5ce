/**
 * The guest channel's script run on the host with /bin/sh, as the guest's socket-activated service
 * runs it: one command on stdin, one answer on stdout. `ports` runs the host's real ss.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, which } from '../system/exec.js';
import { CHANNEL_PORT, CHANNEL_SCRIPT, CHANNEL_SOCKET_UNIT } from './channel.js';
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
