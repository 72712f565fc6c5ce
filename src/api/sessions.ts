/** Guest sessions on the wire: what a session is, and the requests that start and end one. */
import { badRequest } from './errors.js';
import { defined, fieldsOf, optInt, optString } from './parse.js';
import { parseSignal } from './requests.js';
import type { VMSignal } from './types.js';

/**
 * What a session's files in the guest say. `running`: its command runs; `exited`: it ended with a
 * status; `lost`: it ended without one (the VM stopped under it); `unknown`: the VM is not running,
 * so the guest cannot be asked (the last recorded state is shown).
 */
export type SessionState = 'running' | 'exited' | 'lost' | 'unknown';

export interface SessionInfo {
  name: string;
  vm: string;
  /** The argv run in the guest. */
  command: string[];
  /** Working directory in the guest (the guest user's home when absent). */
  cwd?: string;
  state: SessionState;
  /** ISO 8601. */
  startedAt: string;
  endedAt?: string;
  /** The command's exit status (128 + n when signal n ended it). */
  exitStatus?: number;
  /** The guest's files for it: output, stdin (a FIFO), status. */
  guestDir: string;
  /** The systemd unit it runs as, when the guest has systemd. */
  unit?: string;
  /** Its command runs on a terminal (a pseudo-terminal in the guest): attach from a terminal is interactive. */
  tty?: boolean;
}

/** A session's terminal: its size and TERM. */
export interface SessionTerminal {
  rows: number;
  cols: number;
  /** Default xterm-256color. */
  term?: string;
}

export const DEFAULT_SESSION_TERMINAL: Required<SessionTerminal> = { rows: 24, cols: 80, term: 'xterm-256color' };

export interface StartSessionRequest {
  /** Generated (adjective-noun) when absent. */
  name?: string;
  command: string[];
  cwd?: string;
  /** Run the command on a terminal of this size (`true`: 24 rows, 80 columns); default: pipes. */
  tty?: SessionTerminal | true;
}

export interface StopSessionRequest {
  /** SIGKILL after this many seconds when SIGTERM did not end it (default 10). */
  timeoutSeconds?: number;
}

export interface KillSessionRequest {
  /** Default SIGKILL. */
  signal?: VMSignal;
}

export function parseStartSessionRequest(body: unknown): StartSessionRequest {
  const b = fieldsOf(body, ['name', 'command', 'cwd', 'tty'], 'start session');
  const command = b.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
    throw badRequest('command must be a non-empty list of strings', 'give the command after --: banger vm session start dev -- python3 -m http.server');
  }
  if ((command[0] as string).trim() === '') throw badRequest('command must not start with an empty argument');
  const cwd = optString(b, 'cwd');
  if (cwd !== undefined && (!cwd.startsWith('/') || cwd.split('/').includes('..'))) {
    throw badRequest(`cwd ${JSON.stringify(cwd)} is not an absolute guest path`, 'give a path such as /root/repo');
  }
  return defined<StartSessionRequest>({ name: optString(b, 'name'), command, cwd, tty: parseTerminal(b.tty) });
}

/** A terminal size in rows and columns, as a terminal would have. */
export function terminalSizeProblem(rows: unknown, cols: unknown): string | undefined {
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 1000;
  return ok(rows) && ok(cols) ? undefined : 'rows and cols must be whole numbers from 1 to 1000';
}

function parseTerminal(v: unknown): SessionTerminal | true | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return true;
  const t = fieldsOf(v, ['rows', 'cols', 'term'], 'session terminal');
  const problem = terminalSizeProblem(t.rows, t.cols);
  if (problem) throw badRequest(`tty: ${problem}`, 'e.g. {"tty": {"rows": 40, "cols": 120}}, or {"tty": true} for 24 by 80');
  const term = optString(t, 'term');
  if (term !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(term)) throw badRequest(`tty: term ${JSON.stringify(term)} is not a terminal type`, 'e.g. xterm-256color');
  return defined<SessionTerminal>({ rows: t.rows as number, cols: t.cols as number, term });
}

export function parseStopSessionRequest(body: unknown): StopSessionRequest {
  const b = fieldsOf(body, ['timeoutSeconds'], 'stop session');
  return defined<StopSessionRequest>({ timeoutSeconds: optInt(b, 'timeoutSeconds', 0, 3600) });
}

export function parseKillSessionRequest(body: unknown): KillSessionRequest {
  const b = fieldsOf(body, ['signal'], 'kill session');
  const signal = optString(b, 'signal');
  return signal === undefined ? {} : { signal: parseSignal(signal) };
}

/** The output route's answer header: the byte offset in the session's output where the body starts. */
export const SESSION_OFFSET_HEADER = 'x-session-offset';

export interface SessionLogsQuery {
  /** Start at this byte of the output (default 0). */
  offset?: number;
  /** Only the last this many bytes (not with offset). */
  tail?: number;
  /** Keep the answer open, adding what the session writes, until it ends. */
  follow: boolean;
}

const LOGS_QUERY = ['offset', 'tail', 'follow'];

function queryInt(q: Record<string, string>, field: string): number | undefined {
  const v = q[field];
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw badRequest(`${field} must be a whole number of bytes, not ${JSON.stringify(v)}`, `for example ${field}=65536`);
  return Number(v);
}

/** The output route's query: offset or tail, and follow. Unknown parameters are refused. */
export function parseSessionLogsQuery(q: Record<string, string>): SessionLogsQuery {
  const extra = Object.keys(q).filter((k) => !LOGS_QUERY.includes(k));
  if (extra.length > 0) throw badRequest(`unknown query parameter ${JSON.stringify(extra[0])} for session output`, `known: ${LOGS_QUERY.join(', ')}`);
  const offset = queryInt(q, 'offset');
  const tail = queryInt(q, 'tail');
  if (offset !== undefined && tail !== undefined) throw badRequest('give offset or tail, not both', 'offset=N starts at byte N; tail=N gives the last N bytes');
  const f = q.follow;
  if (f !== undefined && !['1', '0', 'true', 'false'].includes(f)) throw badRequest(`follow must be 1 or 0, not ${JSON.stringify(f)}`);
  return defined<SessionLogsQuery>({ offset, tail, follow: f === '1' || f === 'true' });
}

/** The most a send may carry (a session reads its stdin through a pipe). */
export const MAX_SESSION_INPUT_BYTES = 64 * 1024;

export interface SendSessionRequest {
  /** Bytes for the session's stdin, as UTF-8 (add the newline yourself for a line). */
  data: string;
}

export interface SendSessionResult {
  /** Bytes written. */
  sent: number;
}

export function parseSendSessionRequest(body: unknown): SendSessionRequest {
  const b = fieldsOf(body, ['data'], 'send to session');
  const data = optString(b, 'data');
  if (data === undefined || data === '') throw badRequest('data is required', 'give the text for the session\'s stdin, e.g. {"data": "hello\\n"}');
  const bytes = new TextEncoder().encode(data).length;
  if (bytes > MAX_SESSION_INPUT_BYTES) throw badRequest(`data is ${bytes} bytes; at most ${MAX_SESSION_INPUT_BYTES} go in one send`, 'send it in parts');
  return { data };
}
