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
}

export interface StartSessionRequest {
  /** Generated (adjective-noun) when absent. */
  name?: string;
  command: string[];
  cwd?: string;
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
  const b = fieldsOf(body, ['name', 'command', 'cwd'], 'start session');
  const command = b.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
    throw badRequest('command must be a non-empty list of strings', 'give the command after --: banger vm session start dev -- python3 -m http.server');
  }
  if ((command[0] as string).trim() === '') throw badRequest('command must not start with an empty argument');
  const cwd = optString(b, 'cwd');
  if (cwd !== undefined && (!cwd.startsWith('/') || cwd.split('/').includes('..'))) {
    throw badRequest(`cwd ${JSON.stringify(cwd)} is not an absolute guest path`, 'give a path such as /root/repo');
  }
  return defined<StartSessionRequest>({ name: optString(b, 'name'), command, cwd });
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
