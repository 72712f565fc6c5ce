/**
 * The host end of the guest channel on QEMU: a virtio-serial port whose host side is a unix socket in
 * the VM's run directory (argv.ts). The guest reads one request per line, `<id> <command>`, hands the
 * command to the same channel script the vsock transport runs (guest/channel.ts), and writes its answer
 * followed by `banger-channel-end <id>`.
 *
 * A port is one stream that outlives each connection: an answer the guest wrote after an earlier client
 * gave up arrives at the next one. Every request therefore has its own id, and what comes before another
 * request's end line is dropped. Requests to one VM go one at a time (QEMU takes one client at a time).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { socketRequest } from '../socket-request.js';

export const CHANNEL_END = 'banger-channel-end';

export class ChannelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelError';
  }
}

const queues = new Map<string, Promise<unknown>>();

/** Sends one command over the channel socket at `path` and resolves with the guest's answer. */
export function channelRequest(path: string, command: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
  if (/[\n\r\0]/.test(command)) return Promise.reject(new ChannelError('a channel command is one line'));
  const prev = queues.get(path) ?? Promise.resolve();
  const mine = prev.catch(() => undefined).then(() => exchange(path, command, opts));
  const tail = mine.catch(() => undefined);
  queues.set(path, tail);
  void tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return mine;
}

function exchange(path: string, command: string, opts: { timeoutMs?: number; signal?: AbortSignal }): Promise<string> {
  const id = randomBytes(6).toString('hex');
  const end = `${CHANNEL_END} ${id}`;
  const stale = new RegExp(`(^|\\n)${CHANNEL_END} (?!${id}\\n)[^\\n]*\\n`);
  const timeoutMs = opts.timeoutMs ?? 5000;
  return socketRequest({
    path,
    line: `${id} ${command}`,
    timeoutMs,
    signal: opts.signal,
    answer: (received) => {
      let text = received;
      for (let at = text.search(stale); at >= 0; at = text.search(stale)) text = text.slice(text.indexOf('\n', at + 1) + 1);
      const at = text.startsWith(`${end}\n`) ? 0 : text.indexOf(`\n${end}\n`);
      if (at < 0) return undefined;
      return at === 0 ? '' : text.slice(0, at + 1);
    },
    errors: {
      timeout: () => new ChannelError(`the guest channel did not answer "${command.split(' ')[0]}" within ${timeoutMs} ms`),
      closed: () => new ChannelError('the guest channel closed before answering'),
      socket: (err) => new ChannelError(`guest channel ${path}: ${err.message}`),
      cancelled: () => new ChannelError('cancelled'),
    },
  });
}
