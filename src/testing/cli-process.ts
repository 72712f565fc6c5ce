/** Runs the built CLI as a user would: a separate process with its own environment. */
import { fileURLToPath } from 'node:url';
import { runUnchecked, which } from '../system/exec.js';
import { readdirSync, readFileSync } from 'node:fs';
import { readCmdline } from '../system/proc.js';

export const BANGER_BIN = fileURLToPath(new URL('../bin/banger.js', import.meta.url));

export interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function banger(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 15 * 60_000): Promise<ProcResult> {
  const r = await runUnchecked([process.execPath, BANGER_BIN, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, timeoutMs });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** Pids of other processes (not init, not this one) whose command line passes `match`. */
function processesWhere(match: (argv: string[], pid: number) => boolean): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    const pid = Number(p);
    if (!/^\d+$/.test(p) || pid <= 1 || pid === process.pid) continue;
    const argv = readCmdline(pid);
    if (argv && match(argv, pid)) out.push(pid);
  }
  return out;
}

/** Pids of VM processes (qemu and the egress connectors it starts) whose command line mentions the given path (e.g. a BANGER_HOME). */
export function processesUnder(path: string): number[] {
  return processesWhere((argv) => argv.some((a) => a.includes(path)) && argv[0] !== undefined && /qemu|socat/.test(argv[0]));
}

/** Pids of daemons started for the banger home `home` (their environment names it; their command line need not). */
export function daemonsOf(home: string): number[] {
  const mark = `BANGER_HOME=${home}`;
  return processesWhere((argv, pid) => {
    if (!argv.some((a) => /bangerd/.test(a))) return false;
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(mark);
    } catch {
      return false;
    }
  });
}

/** Kills what a test's banger home left running after `daemon stop`: its VM processes and a daemon that did not stop. */
export function killLeftovers(home: string): void {
  for (const pid of [...processesUnder(home), ...daemonsOf(home)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function e2eSkipReason(): string | undefined {
  if (!which('qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 qemu-utils)';
  if (!which('mmdebstrap')) return 'mmdebstrap is not installed';
  if (process.getuid?.() !== 0) return 'building the default image needs root';
  return undefined;
}
