/** HTTP/1.1 + JSON client for the daemon's unix socket. */
import { request, type IncomingMessage } from 'node:http';
import { BangerError, type ErrorEnvelope } from './errors.js';
import { API_PREFIX, type OpEvent, type OperationStarted } from './types.js';

export class DaemonUnreachableError extends Error {
  constructor(
    readonly socketPath: string,
    readonly reason: string,
  ) {
    super(`cannot reach bangerd on ${socketPath}: ${reason}`);
    this.name = 'DaemonUnreachableError';
  }
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export class ApiClient {
  constructor(readonly socketPath: string) {}

  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.json<T>('GET', path, opts);
  }
  post<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.json<T>('POST', path, { ...opts, body });
  }
  patch<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.json<T>('PATCH', path, { ...opts, body });
  }
  delete<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.json<T>('DELETE', path, opts);
  }

  /** Opens a request and returns the raw response (for streams). Non-2xx responses are thrown as BangerError. */
  open(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          agent: false,
          method,
          path: API_PREFIX + path,
          headers: {
            host: 'bangerd',
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
          signal: opts.signal,
          timeout: opts.timeoutMs,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(res);
            return;
          }
          readAll(res).then(
            (text) => reject(errorFromBody(status, text)),
            reject,
          );
        },
      );
      req.on('timeout', () => req.destroy(new DaemonUnreachableError(this.socketPath, 'request timed out')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof DaemonUnreachableError || err.name === 'AbortError') reject(err);
        else if (['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EACCES', 'ENOTSOCK'].includes(err.code ?? '')) {
          reject(new DaemonUnreachableError(this.socketPath, err.code === 'ENOENT' ? 'no socket' : (err.code ?? err.message)));
        } else reject(err);
      });
      req.end(payload);
    });
  }

  private async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const text = await readAll(res);
    if (text === '') return undefined as T;
    return JSON.parse(text) as T;
  }

  /** Follows an operation's events until it ends; returns the result or throws its error. */
  async follow<T>(opId: string, onEvent: (ev: OpEvent) => void, signal?: AbortSignal): Promise<T> {
    const res = await this.open('GET', `/operations/${opId}/events`, { signal });
    let buf = '';
    let last: OpEvent | undefined;
    for await (const chunk of res) {
      buf += (chunk as Buffer).toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const ev = JSON.parse(line) as OpEvent;
        last = ev;
        onEvent(ev);
      }
    }
    if (last?.type === 'done') return last.result as T;
    if (last?.type === 'error') throw BangerError.fromEnvelope(last.error);
    throw new BangerError('internal', `the event stream of ${opId} ended early`, { opId, hint: 'see banger daemon status for the log path' });
  }

  /** Starts a long operation and follows it. */
  async run<T>(method: 'POST' | 'DELETE', path: string, body: unknown, onEvent: (ev: OpEvent) => void, signal?: AbortSignal): Promise<T> {
    const started = await this.json<OperationStarted>(method, path, { body });
    const cancel = () => {
      this.delete(`/operations/${started.opId}`).catch(() => undefined);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await this.follow<T>(started.opId, onEvent);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function errorFromBody(status: number, text: string): BangerError {
  try {
    const env = JSON.parse(text) as ErrorEnvelope;
    if (env && typeof env.code === 'string' && typeof env.message === 'string') return BangerError.fromEnvelope(env);
  } catch {
    /* not an envelope */
  }
  return new BangerError('internal', `daemon answered HTTP ${status}: ${text.slice(0, 200)}`);
}
