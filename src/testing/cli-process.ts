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

/** Pids of VM processes (qemu and the egress connectors it starts) whose command line mentions the given path (e.g. a BANGER_HOME). */
export function processesUnder(path: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) <= 1 || Number(p) === process.pid) continue;
    const argv = readCmdline(Number(p));
    if (argv?.some((a) => a.includes(path)) && argv[0] && /qemu|socat/.test(argv[0])) out.push(Number(p));
  }
  return out;
}

/** Pids of daemons started for the banger home `home` (their environment names it; their command line need not). */
export function daemonsOf(home: string): number[] {
  const mark = `BANGER_HOME=${home}`;
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) <= 1 || Number(p) === process.pid) continue;
    const argv = readCmdline(Number(p));
    if (!argv?.some((a) => /bangerd/.test(a))) continue;
    let environ = '';
    try {
      environ = readFileSync(`/proc/${p}/environ`, 'latin1');
    } catch {
      continue;
    }
    if (environ.split('\0').includes(mark)) out.push(Number(p));
  }
  return out;
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
