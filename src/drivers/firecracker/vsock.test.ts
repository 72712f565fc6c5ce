/**
 * The host side of the vsock guest channel against a stand-in of firecracker's vsock UDS: it speaks
 * the hybrid vsock handshake (`CONNECT <port>\n`, `OK <host port>\n`), closes connections to guest ports
 * nothing listens on (as firecracker does), and then plays the guest bits' answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GUEST_CHANNEL_PORT, guestChannel, guestHealthy, vsockConnect, VsockError } from './vsock.js';

type Behaviour = 'guest' | 'garbage' | 'silent' | 'same-chunk';

describe('vsock guest channel, host side', () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-vsock-'));
  const servers: Server[] = [];
  const received: string[] = [];

  /** A UDS like firecracker's vsock device, whose guest listens on GUEST_CHANNEL_PORT only. */
  const uds = async (name: string, behaviour: Behaviour): Promise<string> => {
    const path = join(dir, name);
    const server = createServer((s: Socket) => {
      let buf = '';
      let connected = false;
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        received.push(d.toString('latin1'));
        if (behaviour === 'silent') return;
        if (!connected) {
          const nl = buf.indexOf('\n');
          if (nl < 0) return;
          const m = /^CONNECT (\d+)$/.exec(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (behaviour === 'garbage') return void s.end('HELLO THERE\n');
          if (!m || Number(m[1]) !== GUEST_CHANNEL_PORT) return void s.destroy();
          connected = true;
          if (behaviour === 'same-chunk') return void s.end('OK 1073741900\nok 42.00\n');
          s.write('OK 1073741824\n');
        }
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const cmd = buf.slice(0, nl);
        s.end(cmd === 'health' ? 'ok 12.34\n' : cmd === 'ports' ? 'tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*\n' : 'error unknown command\n');
      });
    });
    await new Promise<void>((r) => server.listen(path, () => r()));
    servers.push(server);
    return path;
  };

  let guest = '';
  before(async () => {
    guest = await uds('guest.sock', 'guest');
  });
  after(async () => {
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends CONNECT <port>, then the command, and returns the whole answer', async () => {
    received.length = 0;
    assert.equal(await guestChannel(guest, 'health'), 'ok 12.34\n');
    assert.equal(received.join(''), 'CONNECT 52\nhealth\n');
    assert.match(await guestChannel(guest, 'ports'), /0\.0\.0\.0:22/);
    assert.equal(await guestHealthy(guest), true);
  });

  it('reports the host port of the OK line', async () => {
    const c = await vsockConnect(guest, GUEST_CHANNEL_PORT);
    assert.equal(c.hostPort, 1073741824);
    c.socket.destroy();
  });

  it('a guest port nothing listens on is refused (the connection closes before OK)', async () => {
    await assert.rejects(vsockConnect(guest, 5000), (e: unknown) => e instanceof VsockError && /closed before OK \(nothing listens on guest port 5000\?\)/.test(e.message));
  });

  it('an answer that is not the handshake, a device that never answers, or no socket at all fail with what happened', async () => {
    await assert.rejects(guestChannel(await uds('garbage.sock', 'garbage'), 'health'), /unexpected handshake reply "HELLO THERE"/);
    await assert.rejects(guestChannel(await uds('silent.sock', 'silent'), 'health', { timeoutMs: 300 }), /no answer to CONNECT 52 within 300ms/);
    await assert.rejects(guestChannel(join(dir, 'none.sock'), 'health'), /ENOENT/);
    assert.equal(await guestHealthy(join(dir, 'none.sock')), false);
    await assert.rejects(vsockConnect(guest, -1), /invalid vsock port -1/);
  });

  it('an answer that arrives with the OK line is not lost', async () => {
    assert.equal(await guestChannel(await uds('chunk.sock', 'same-chunk'), 'health'), 'ok 42.00\n');
  });
});
