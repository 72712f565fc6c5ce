/**
 * Looking at and signalling processes by pid, through /proc. Nothing here starts a process
 * (that is src/system/exec.ts); a pid must be a plain integer above 1, so that a corrupted
 * handle can never turn into "signal every process" (-1) or "signal my own group" (0).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function assertPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new TypeError(`not a usable pid: ${String(pid)}`);
}

/** The one-letter state from /proc/<pid>/stat (R, S, D, Z, ...), or undefined when there is no such process. */
export function processState(pid: number): string | undefined {
  assertPid(pid);
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name sits in parentheses and may itself contain spaces or parentheses.
  const end = stat.lastIndexOf(')');
  return end < 0 ? undefined : stat.slice(end + 2, end + 3) || undefined;
}

/** The parent's pid from /proc/<pid>/stat, or undefined when there is no such process. */
export function parentPid(pid: number): number | undefined {
  assertPid(pid);
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isSafeInteger(ppid) ? ppid : undefined;
}

/** True while the process exists and is not a zombie. A process of another user counts as alive. */
export function isAlive(pid: number): boolean {
  assertPid(pid);
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** The argv a process was started with, or undefined when it is gone or unreadable. */
export function readCmdline(pid: number): string[] | undefined {
  assertPid(pid);
  let raw: Buffer;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return undefined;
  }
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  const args = text.split('\0');
  if (text.endsWith('\0')) args.pop();
  return args;
}

/** Sends a signal; false when the process does not exist. */
export function signalProcess(pid: number, signal: NodeJS.Signals | 0 = 'SIGTERM'): boolean {
  assertPid(pid);
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Sends a signal to every process in a process group (one started in a session of its own). False when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  assertPid(pgid);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Polls until the process is gone. Resolves true when it exited within timeoutMs. */
export async function waitForExit(pid: number, timeoutMs: number, pollMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

/** Live processes other than this one and init, with their argv (unreadable processes are skipped). */
export function listProcesses(): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid <= 1 || pid === process.pid) continue;
    const argv = readCmdline(pid);
    if (argv && argv.length > 0 && isAlive(pid)) out.push({ pid, argv });
  }
  return out;
}

/** Pids of live processes whose argv satisfies the predicate. */
export function findProcesses(match: (argv: string[]) => boolean): number[] {
  return listProcesses()
    .filter((p) => match(p.argv))
    .map((p) => p.pid);
}

/** Like isAlive, but false (not an error) for values that are not usable pids. */
export function pidAlive(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 1 && isAlive(pid);
}

/** Resident memory of a process in bytes, from /proc. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) of a process in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}
