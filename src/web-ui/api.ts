/** The UI's client of the daemon API (same routes as the unix socket, under /v1 of the web server). */
import type { ErrorEnvelope } from '../api/errors.js';
import type { OpEvent, OperationStarted } from '../api/types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly envelope: ErrorEnvelope,
  ) {
    super(envelope.message);
  }
  get hint(): string | undefined {
    return this.envelope.hint;
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/v1${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status === 401) {
    location.reload();
  }
  if (!res.ok) {
    let env: ErrorEnvelope;
    try {
      env = JSON.parse(text) as ErrorEnvelope;
    } catch {
      env = { code: 'internal', message: text || res.statusText };
    }
    throw new ApiError(res.status, env);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
  /** Starts an operation route; returns its id. */
  start: async (method: 'POST' | 'DELETE' | 'PATCH', path: string, body?: unknown) => (await request<OperationStarted>(method, path, body)).opId,
  cancel: (opId: string) => request<{ cancelled: boolean }>('DELETE', `/operations/${encodeURIComponent(opId)}`),
  text: async (path: string): Promise<string> => {
    const res = await fetch(`/v1${path}`);
    if (!res.ok) throw new ApiError(res.status, (await res.json()) as ErrorEnvelope);
    return res.text();
  },
};

export const enc = encodeURIComponent;

/** Follows an operation's NDJSON events until done/error; resolves with the result or throws the error. */
export async function follow<T>(opId: string, onEvent: (ev: OpEvent) => void, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`/v1/operations/${enc(opId)}/events`, signal ? { signal } : {});
  if (!res.ok || !res.body) throw new ApiError(res.status, (await res.json()) as ErrorEnvelope);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      const ev = JSON.parse(line) as OpEvent;
      onEvent(ev);
      if (ev.type === 'done') return ev.result as T;
      if (ev.type === 'error') throw new ApiError(0, ev.error);
    }
  }
  throw new Error('the operation stream ended without a result');
}
