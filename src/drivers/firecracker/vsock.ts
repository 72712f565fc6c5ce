/**
 * The host side of the vsock guest channel. Firecracker's vsock device is a unix socket on the
 * host: to reach guest port P, connect to it, send `CONNECT P\n`, read `OK <host port>\n`, and the
 * stream is then the connection. The guest bits answer on {@link GUEST_CHANNEL_PORT} with one
 * command per connection: `health` ("ok <uptime>"), `ports` (the listening sockets as
 * `ss -Htlnup` prints them) and `readdress ...`; see guest/channel.ts.
 *
 * @module
 */
import { connect, type Socket } from 'node:net';
import type { GuestChannelCommand } from '../hypervisor.js';
import { GUEST_CHANNEL_PORT } from './config.js';

export { GUEST_CHANNEL_PORT };

export class VsockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VsockError';
  }
}

/** Connects to guest port `port` through the vsock UDS; resolves with the socket after the OK line. */
export function vsockConnect(udsPath: string, port: number, opts: { timeoutMs?: number } = {}): Promise<{ socket: Socket; hostPort: number; rest: Buffer }> {
  if (!Number.isInteger(port) || port < 0 || port > 0xffffffff) return Promise.reject(new VsockError(`invalid vsock port ${port}`));
  return new Promise((resolve, reject) => {
    const s = connect(udsPath);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => fail(`no answer to CONNECT ${port} within ${opts.timeoutMs ?? 3000}ms`), opts.timeoutMs ?? 3000);
    const fail = (why: string) => {
      clearTimeout(timer);
      s.destroy();
      reject(new VsockError(`vsock ${udsPath}: ${why}`));
    };
    s.once('error', (err) => fail(err.message));
    s.once('close', () => fail(`closed before OK (nothing listens on guest port ${port}?)`));
    s.once('connect', () => s.write(`CONNECT ${port}\n`));
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > 64) fail('malformed handshake reply');
        return;
      }
      const line = buf.subarray(0, nl).toString('latin1');
      const m = /^OK (\d+)$/.exec(line);
      if (!m) return fail(`unexpected handshake reply "${line.slice(0, 40)}"`);
      clearTimeout(timer);
      s.removeAllListeners('close');
      s.removeAllListeners('error');
      s.off('data', onData);
      resolve({ socket: s, hostPort: Number(m[1]), rest: buf.subarray(nl + 1) });
    };
    s.on('data', onData);
  });
}

/** Sends one command to the guest channel and returns its whole answer. */
export async function guestChannel(udsPath: string, command: GuestChannelCommand, opts: { timeoutMs?: number } = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const { socket, rest } = await vsockConnect(udsPath, GUEST_CHANNEL_PORT, { timeoutMs });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [rest];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new VsockError(`guest channel: no answer to "${command}" within ${timeoutMs}ms`));
    }, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new VsockError(`guest channel: ${err.message}`));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.write(`${command}\n`);
  });
}

/** True when the guest channel answers health with "ok". */
export async function guestHealthy(udsPath: string, opts: { timeoutMs?: number } = {}): Promise<boolean> {
  try {
    return (await guestChannel(udsPath, 'health', opts)).trim().startsWith('ok');
  } catch {
    return false;
  }
}
