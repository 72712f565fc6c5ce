/**
 * The virtio-serial guest channel end to end on the host: the guest's loop (bash) on a pty that socat
 * makes, the channel script it runs per command, and the driver's client (drivers/qemu/channel.ts)
 * through a stand-in for QEMU's chardev socket that, like QEMU, takes one client at a time and hands
 * what the guest wrote while nobody was connected to the next client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { channelRequest, ChannelError, holdChannel, releaseChannel } from '../drivers/qemu/channel.js';
import { spawnPiped, which, type PipedChild } from '../system/exec.js';
import { CHANNEL_SCRIPT } from './channel.js';
import { channelWord } from './reidentify.js';
import { SERIAL_CHANNEL_RULE, SERIAL_CHANNEL_SCRIPT, SERIAL_CHANNEL_UNIT, SERIAL_PORT_NAME } from './serial-channel.js';


describe('guest channel over a serial port', { skip: which('socat') && which('bash') ? false : 'socat and bash are needed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-serial-'));
  const port = join(dir, 'port');
  const guestLink = join(dir, 'guest.sock');
  const channelSock = join(dir, 'channel.sock');
  const children: PipedChild[] = [];
  let guestSide: Socket | undefined;
  let pending = '';
  let client: Socket | undefined;
  let accepted = 0;
  let qemu: Server;
  let link: Server;

  before(async () => {
    writeFileSync(join(dir, 'banger-channel'), CHANNEL_SCRIPT, { mode: 0o755 });
    writeFileSync(join(dir, 'loop'), SERIAL_CHANNEL_SCRIPT, { mode: 0o755 });
    mkdirSync(join(dir, 'proc'));
    writeFileSync(join(dir, 'proc', 'uptime'), '42.00 1.00\n');
    // The guest's end: socat joins a pty (the port the loop opens) to this socket.
    link = createServer((s) => {
      guestSide = s;
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        if (client && !client.destroyed) client.write(d);
        else pending += d;
      });
    });
    await new Promise<void>((r) => link.listen(guestLink, () => r()));
    // The host end, as QEMU's chardev socket: one client at a time.
    qemu = createServer((c) => {
      accepted++;
      client = c;
      if (pending) c.write(pending);
      pending = '';
      c.on('data', (d) => guestSide?.write(d));
      c.on('close', () => {
        if (client === c) client = undefined;
      });
      c.on('error', () => undefined);
    });
    await new Promise<void>((r) => qemu.listen(channelSock, () => r()));
    const socat = spawnPiped(['socat', `PTY,link=${port},raw,echo=0`, `UNIX-CONNECT:${guestLink}`]);
    children.push(socat);
    for (let i = 0; i < 100 && !(existsSync(port) && guestSide); i++) await sleep(50);
    assert.ok(existsSync(port) && guestSide, 'socat made the pty');
    const env = { ...process.env, BANGER_SERIAL_PORT: port, BANGER_CHANNEL: join(dir, 'banger-channel'), BANGER_IDLE_FIFO: join(dir, 'idle'), BANGER_PROC: join(dir, 'proc') };
    children.push(spawnPiped(['bash', join(dir, 'loop')], { env }));
  });
  after(async () => {
    releaseChannel(channelSock);
    for (const c of children) c.kill('SIGKILL');
    guestSide?.destroy();
    await new Promise<void>((r) => qemu.close(() => r()));
    await new Promise<void>((r) => link.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers health through the channel script', async () => {
    assert.equal(await channelRequest(channelSock, 'health', { timeoutMs: 10_000 }), 'ok 42.00\n');
  });

  it('runs an identity script and answers with what it printed', async () => {
    const answer = await channelRequest(channelSock, `identity ${channelWord("printf 'one\\n'; echo banger-identity-ok\n")}`, { timeoutMs: 10_000 });
    assert.equal(answer, 'one\nbanger-identity-ok\n');
  });

  it('runs a script with quotes, backslashes, spaces and newlines as it was written', async () => {
    const script = "x='a b'; printf '%s|%s\\n' \"$x\" 'c\\d'\necho banger-identity-ok\n";
    assert.equal(await channelRequest(channelSock, `identity ${channelWord(script)}`, { timeoutMs: 10_000 }), 'a b|c\\d\nbanger-identity-ok\n');
  });

  it('refuses an identity argument that is not one escaped word, and an unknown command', async () => {
    assert.equal(await channelRequest(channelSock, 'identity $(reboot)', { timeoutMs: 10_000 }), 'error identity needs one escaped argument\n');
    assert.equal(await channelRequest(channelSock, 'format-disk', { timeoutMs: 10_000 }), 'error unknown command\n');
  });

  it('a late answer to a client that gave up does not reach the next request', async () => {
    await assert.rejects(channelRequest(channelSock, `identity ${channelWord('sleep 1; echo late\n')}`, { timeoutMs: 300 }), (err: unknown) => err instanceof ChannelError && /did not answer "identity" within 300 ms/.test(err.message));
    await sleep(1500);
    assert.equal(await channelRequest(channelSock, 'health', { timeoutMs: 10_000 }), 'ok 42.00\n');
  });

  it('requests to one VM go one at a time, each with its own answer', async () => {
    const answers = await Promise.all([1, 2, 3].map((n) => channelRequest(channelSock, `identity ${channelWord(`echo n${n}\n`)}`, { timeoutMs: 10_000 })));
    assert.deepEqual(answers, ['n1\n', 'n2\n', 'n3\n']);
  });

  it('keeps one connection open between requests, so the guest\'s loop waits on its port instead of polling', async () => {
    await channelRequest(channelSock, 'health', { timeoutMs: 10_000 });
    const before = accepted;
    await sleep(200);
    assert.ok(client && !client.destroyed, 'the connection is still open after the answer');
    assert.equal(await channelRequest(channelSock, 'health', { timeoutMs: 10_000 }), 'ok 42.00\n');
    assert.equal(accepted, before, 'the second request used the same connection');
  });

  it('a connection QEMU dropped is opened again by the next request', async () => {
    await channelRequest(channelSock, 'health', { timeoutMs: 10_000 });
    const before = accepted;
    client?.destroy();
    await sleep(100);
    assert.equal(await channelRequest(channelSock, 'health', { timeoutMs: 10_000 }), 'ok 42.00\n');
    assert.equal(accepted, before + 1);
  });

  it('holds a connection before any request, and a socket nobody listens on fails the request only', async () => {
    releaseChannel(channelSock);
    await sleep(100);
    const before = accepted;
    holdChannel(channelSock);
    for (let i = 0; i < 40 && accepted === before; i++) await sleep(50);
    assert.equal(accepted, before + 1, 'holdChannel connected');
    holdChannel(channelSock);
    assert.equal(await channelRequest(channelSock, 'health', { timeoutMs: 10_000 }), 'ok 42.00\n');
    assert.equal(accepted, before + 1, 'neither a second hold nor the request opened another connection');
    const nowhere = join(dir, 'nowhere.sock');
    holdChannel(nowhere);
    await assert.rejects(channelRequest(nowhere, 'health', { timeoutMs: 2000 }), (err: unknown) => err instanceof ChannelError && /nowhere\.sock/.test(err.message));
  });

  it('a command is one line', async () => {
    await assert.rejects(channelRequest(channelSock, 'health\nports'), /one line/);
  });

  it('udev starts the loop when the port appears', () => {
    assert.match(SERIAL_CHANNEL_RULE, new RegExp(`SUBSYSTEM=="virtio-ports", ATTR\\{name\\}=="${SERIAL_PORT_NAME.replaceAll('.', '\\.')}".*SYSTEMD_WANTS\\}\\+="banger-serial-channel\\.service"`));
    assert.match(SERIAL_CHANNEL_UNIT, /^Restart=always$/m);
  });
});
