/**
 * The host end of the guest channel on QEMU: a virtio-serial port whose host side is a unix socket in
 * the VM's run directory (argv.ts). The guest reads one request per line, `<id> <command>`, hands the
 * command to the same channel script the vsock transport runs (guest/channel.ts), and writes its answer
 * followed by `banger-channel-end <id>`.
 *
 * The daemon holds one connection per VM open for as long as the VM's process runs (holdChannel, and
 * every request reuses it): while a host client is connected the guest's read of the port blocks,
 * while none is it returns at once and the guest's loop has to poll, which costs an idle guest most of
 * its CPU under emulation. A connection that closes (the process ended, or QEMU dropped it) is opened
 * again by the next request. Held connections do not keep the daemon's process alive.
 *
 * A port is one stream that outlives each request: an answer the guest wrote after an earlier request
 * gave up arrives later. Every request therefore has its own id, and what comes before another
 * request's end line is dropped. Requests to one VM go one at a time (QEMU takes one client at a time).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export const CHANNEL_END = 'banger-channel-end';

export class ChannelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelError';
  }
}

/** One held connection: what arrived since the current request was sent goes to `reader`. */
interface Held {
  sock: Socket;
  ready: Promise<void>;
  reader?: (text: string) => void;
  ended?: (err: Error) => void;
}

const held = new Map<string, Held>();
const queues = new Map<string, Promise<unknown>>();

function open(path: string): Held {
  const existing = held.get(path);
  if (existing && !existing.sock.destroyed) return existing;
  const sock = connect(path);
  sock.setEncoding('utf8');
  sock.unref();
  const conn: Held = {
    sock,
    ready: new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    }),
  };
  conn.ready.catch(() => undefined);
  sock.on('data', (chunk: string) => conn.reader?.(chunk));
  const gone = (err: Error) => {
    if (held.get(path) === conn) held.delete(path);
    conn.ended?.(err);
  };
  sock.on('error', (err) => gone(new ChannelError(`guest channel ${path}: ${err.message}`)));
  sock.on('close', () => gone(new ChannelError('the guest channel closed before answering')));
  held.set(path, conn);
  return conn;
}

/**
 * Opens the connection to the channel socket at `path` and keeps it, so the guest's loop waits on the
 * port instead of polling it. A socket that cannot be reached is left alone: the next request tries again.
 */
export function holdChannel(path: string): void {
  open(path);
}

/** Closes the held connection to `path`, if any (a request in flight fails as closed). */
export function releaseChannel(path: string): void {
  held.get(path)?.sock.destroy();
  held.delete(path);
}

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

/** The answer to request `id` in what arrived, once its end line is there; another request's answer before it is dropped. */
function answerIn(received: string, id: string): string | undefined {
  const end = `${CHANNEL_END} ${id}`;
  const stale = new RegExp(`(^|\\n)${CHANNEL_END} (?!${id}\\n)[^\\n]*\\n`);
  let text = received;
  for (let at = text.search(stale); at >= 0; at = text.search(stale)) text = text.slice(text.indexOf('\n', at + 1) + 1);
  const at = text.startsWith(`${end}\n`) ? 0 : text.indexOf(`\n${end}\n`);
  if (at < 0) return undefined;
  return at === 0 ? '' : text.slice(0, at + 1);
}

function exchange(path: string, command: string, opts: { timeoutMs?: number; signal?: AbortSignal }): Promise<string> {
  const id = randomBytes(6).toString('hex');
  const timeoutMs = opts.timeoutMs ?? 5000;
  const signal = opts.signal;
  return new Promise<string>((resolve, reject) => {
    if (signal?.aborted) return reject(new ChannelError('cancelled'));
    const conn = open(path);
    let received = '';
    let done = false;
    const finish = (err: Error | undefined, value?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      conn.reader = undefined;
      conn.ended = undefined;
      conn.sock.unref();
      if (err) reject(err);
      else resolve(value!);
    };
    const onAbort = () => finish(new ChannelError('cancelled'));
    const timer = setTimeout(() => finish(new ChannelError(`the guest channel did not answer "${command.split(' ')[0]}" within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    conn.sock.ref();
    conn.ended = (err) => finish(err);
    conn.ready.then(
      () => {
        if (done) return;
        conn.reader = (chunk) => {
          received += chunk;
          const answer = answerIn(received, id);
          if (answer !== undefined) finish(undefined, answer);
        };
        conn.sock.write(`${id} ${command}\n`);
      },
      (err: Error) => finish(new ChannelError(`guest channel ${path}: ${err.message}`)),
    );
  });
}
