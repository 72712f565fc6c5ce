/** Runs the built CLI as a user would: a separate process with its own environment. */
import { fileURLToPath } from 'node:url';
import { runUnchecked, which } from '../system/exec.js';
import { readdirSync } from 'node:fs';
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

export function e2eSkipReason(): string | undefined {
  if (!which('qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 qemu-utils)';
  if (!which('mmdebstrap')) return 'mmdebstrap is not installed';
  if (process.getuid?.() !== 0) return 'building the default image needs root';
  return undefined;
}
