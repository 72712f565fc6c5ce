/**
 * Local users made for one test and removed after it (useradd/userdel, which also drops their
 * subordinate id ranges), their subordinate ids (usermod), and commands run as them (setpriv).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { run, runUnchecked, which, type RunOptions, type RunResult } from '../system/exec.js';
import { lookupUser, type LocalUser } from '../system/users.js';
import { freeSubidStart, subidRanges, type SubidRange } from '../system/subids.js';

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

/** Pids of the processes running as the user (real uid), from /proc. */
export function processesOf(user: LocalUser): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue;
    }
    if (new RegExp(`^Uid:\\s+${user.uid}\\s`, 'm').test(status)) out.push(Number(name));
  }
  return out;
}

/** Waits up to `waitMs` for the user's processes to end (userdel and usermod refuse a user that has some). */
export async function waitForNoProcesses(user: LocalUser, waitMs = 60_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (processesOf(user).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
}

/** Removes the user (with its subordinate id ranges) once its processes have ended. */
export async function removeThrowawayUser(user: LocalUser | undefined): Promise<void> {
  if (!user) return;
  await waitForNoProcesses(user);
  await runUnchecked(['userdel', user.name]);
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

function rangesOf(file: string, name: string): SubidRange[] {
  return subidRanges(existsSync(file) ? readFileSync(file, 'utf8') : '', { name });
}

/** Removes every subordinate id range the user has (useradd may have given it one). */
export async function removeSubids(user: LocalUser): Promise<void> {
  const args: string[] = [];
  for (const r of rangesOf('/etc/subuid', user.name)) args.push('--del-subuids', `${r.start}-${r.start + r.count - 1}`);
  for (const r of rangesOf('/etc/subgid', user.name)) args.push('--del-subgids', `${r.start}-${r.start + r.count - 1}`);
  if (args.length > 0) await run(['usermod', ...args, user.name]);
}

/** Gives the user exactly one range of 65536 subordinate uids and gids that no other user has; returns its start. */
export async function giveSubids(user: LocalUser): Promise<number> {
  await removeSubids(user);
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const start = freeSubidStart(read('/etc/subuid'), read('/etc/subgid'));
  const range = `${start}-${start + 65535}`;
  await run(['usermod', '--add-subuids', range, '--add-subgids', range, user.name]);
  return start;
}
