/** HTTP/1.1 + JSON client for the daemon's unix socket. */
import { request, type IncomingMessage } from 'node:http';
import { BangerError, type ErrorEnvelope } from './errors.js';
import { fillPath, ROUTES, type OperationRoute, type PathParams, type StreamRoute, type SyncRoute } from './routes.js';
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

/** Thrown by `run` when the caller stopped following an operation that cannot be cancelled: it goes on in the daemon. */
export class OperationDetachedError extends Error {
  constructor(
    readonly opId: string,
    readonly kind: string,
  ) {
    super(`${kind} (${opId}) cannot be cancelled; it goes on in the daemon`);
    this.name = 'OperationDetachedError';
  }
}

export class ApiClient {
  constructor(readonly socketPath: string) {}

  /** Calls a sync route of the table: the body is the route's request type, the answer its result type. */
  call<P extends string, Req, Res>(route: SyncRoute<P, Req, Res>, params: PathParams<P>, body?: Req, opts: Omit<RequestOptions, 'body'> = {}): Promise<Res> {
    return this.json<Res>(route.method, fillPath(route.path, params), { ...opts, body });
  }

  /** Starts an operation route and returns its id. */
  start<P extends string, Req, Res>(route: OperationRoute<P, Req, Res>, params: PathParams<P>, body?: Req): Promise<OperationStarted> {
    return this.json<OperationStarted>(route.method, fillPath(route.path, params), { body });
  }

  /**
   * Starts an operation and follows it to its result. When `signal` aborts, a cancellable operation is cancelled
   * (and followed to its end); any other is left running and OperationDetachedError is thrown.
   */
  async run<P extends string, Req, Res>(
    route: OperationRoute<P, Req, Res>,
    params: PathParams<P>,
    body: Req | undefined,
    onEvent: (ev: OpEvent) => void,
    signal?: AbortSignal,
  ): Promise<Res> {
    const { opId } = await this.start(route, params, body);
    if (!route.cancellable) {
      try {
        return await this.follow<Res>(opId, onEvent, signal);
      } catch (err) {
        if (signal?.aborted) throw new OperationDetachedError(opId, route.id);
        throw err;
      }
    }
    const cancel = () => {
      this.call(ROUTES.operationCancel, { id: opId }).catch(() => undefined);
    };
    if (signal?.aborted) cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await this.follow<Res>(opId, onEvent);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  /** Opens a stream route (a console log, operation events). */
  stream<P extends string>(route: StreamRoute<P>, params: PathParams<P>, opts: { query?: Record<string, string>; signal?: AbortSignal } = {}): Promise<IncomingMessage> {
    const q = opts.query && Object.keys(opts.query).length > 0 ? `?${new URLSearchParams(opts.query).toString()}` : '';
    return this.open(route.method, fillPath(route.path, params) + q, opts.signal ? { signal: opts.signal } : {});
  }

  /** Untyped access by path, for tests and tools outside the route table; commands use call/run/stream. */
  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.json<T>('GET', path, opts);
  }
  post<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.json<T>('POST', path, { ...opts, body });
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
    const res = await this.stream(ROUTES.operationEvents, { id: opId }, signal ? { signal } : {});
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
