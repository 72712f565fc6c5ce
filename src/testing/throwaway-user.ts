/** Local users made for one test and removed after it (useradd/userdel), and commands run as them (setpriv). */
import { randomBytes } from 'node:crypto';
import { run, runUnchecked, which, type RunOptions, type RunResult } from '../system/exec.js';
import { lookupUser, type LocalUser } from '../system/users.js';

/** Why throwaway users cannot be made here, or undefined when they can. */
export function throwawayUserSkip(): string | undefined {
  if (process.geteuid?.() !== 0) return 'needs root to add users';
  for (const tool of ['useradd', 'userdel', 'setpriv', 'ss']) if (!which(tool)) return `${tool} is not installed`;
  return undefined;
}

/** Adds a user without a home or login shell; `groups` are supplementary groups (names). */
export async function addThrowawayUser(prefix: string, groups: string[] = []): Promise<LocalUser> {
  const name = `${prefix}${randomBytes(3).toString('hex')}`;
  await run(['useradd', '-M', '-s', '/usr/sbin/nologin', ...(groups.length ? ['-G', groups.join(',')] : []), name]);
  const user = lookupUser(name);
  if (!user) throw new Error(`useradd made no ${name}`);
  return user;
}

export async function removeThrowawayUser(user: LocalUser | undefined): Promise<void> {
  if (user) await runUnchecked(['userdel', user.name]);
}

/** The argv that runs `argv` as `user` (its uid, gid and groups; no capabilities). */
export function asUserArgv(user: LocalUser, argv: readonly string[]): string[] {
  return ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', ...argv];
}

export function runAsUser(user: LocalUser, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runUnchecked(asUserArgv(user, argv), { timeoutMs: 60_000, ...opts });
}

/**
 * A node one-liner that sends one JSON line to a unix socket and prints the answer, or
 * `error <code>` when it cannot connect: a client of the root helper as any user.
 */
export function socketClientArgv(socket: string, request: unknown): string[] {
  const js = [
    "const s = require('node:net').createConnection(process.argv[1]);",
    "let out = '';",
    "s.on('connect', () => s.write(process.argv[2] + '\\n'));",
    "s.on('data', (b) => (out += b));",
    "s.on('end', () => process.stdout.write(out));",
    "s.on('error', (e) => { process.stdout.write('error ' + e.code + '\\n'); });",
  ].join(' ');
  return [process.execPath, '-e', js, socket, JSON.stringify(request)];
}
