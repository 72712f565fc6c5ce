/**
 * One request over a unix socket: connect, write one line, read until the answer is complete, close.
 * The fake VMM's control socket and QEMU's guest channel both speak this way.
 *
 * @module
 */
import { connect } from 'node:net';

export interface SocketRequest<T> {
  path: string;
  /** The line sent once connected (a newline is added). */
  line: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Reads everything received so far: the answer once it is complete, undefined to wait for more. May throw. */
  answer(received: string): T | undefined;
  /** The errors this caller reports, so each keeps its own wording. */
  errors: {
    timeout(): Error;
    closed(): Error;
    socket(err: Error): Error;
    cancelled(): Error;
  };
}

export function socketRequest<T>(req: SocketRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    if (req.signal?.aborted) return reject(req.errors.cancelled());
    const sock = connect(req.path);
    let received = '';
    let done = false;
    const finish = (err: Error | undefined, value?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(value as T);
    };
    const onAbort = () => finish(req.errors.cancelled());
    const timer = setTimeout(() => finish(req.errors.timeout()), req.timeoutMs);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(`${req.line}\n`));
    sock.on('data', (chunk: string) => {
      received += chunk;
      let value: T | undefined;
      try {
        value = req.answer(received);
      } catch (err) {
        return finish(err as Error);
      }
      if (value !== undefined) finish(undefined, value);
    });
    sock.once('error', (err) => finish(req.errors.socket(err)));
    sock.once('close', () => finish(req.errors.closed()));
  });
}
