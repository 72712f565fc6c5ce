/** `vm exec`, `vm ssh` and `vm run PATH` start in the VM's workspace: the command line that does it, and the HEAD check. */
import { existsSync } from 'node:fs';
import type { WorkspaceInfo } from '../../../api/types.js';
import { remoteArgv } from '../../../sdk/exec.js';
import { runUnchecked } from '../../../system/exec.js';

/**
 * The guest argv that runs `command` (or a login shell) in `dir`, a command with `env` added;
 * unchanged without either.
 */
export function inDir(command: string[] | undefined, dir: string | undefined, env: Readonly<Record<string, string>> = {}): string[] | undefined {
  if (command && command.length > 0 && Object.keys(env).length > 0) return remoteArgv(command, { ...(dir !== undefined ? { cwd: dir } : {}), env });
  if (dir === undefined) return command;
  if (command && command.length > 0) return remoteArgv(command, { cwd: dir });
  return ['sh', '-c', 'cd -- "$1" 2>/dev/null || echo "banger: $1 is gone; staying in $HOME" >&2; exec "${SHELL:-/bin/sh}" -l', 'sh', dir];
}

/**
 * Whether the host checkout moved on since the workspace was copied: its HEAD differs, or its tree
 * has uncommitted changes. Undefined when the checkout is not on this machine.
 */
export async function hostMoved(ws: WorkspaceInfo): Promise<{ headMoved: boolean; dirty: boolean; head: string } | undefined> {
  if (!existsSync(ws.sourcePath)) return undefined;
  const head = await runUnchecked(['git', '-C', ws.sourcePath, 'rev-parse', '-q', '--verify', 'HEAD']);
  if (head.code !== 0) return undefined;
  const status = await runUnchecked(['git', '-C', ws.sourcePath, 'status', '--porcelain', `--untracked-files=${ws.includeUntracked ? 'normal' : 'no'}`]);
  return { headMoved: head.stdout.trim() !== ws.headCommit, dirty: status.stdout.trim() !== '', head: head.stdout.trim() };
}

/**
 * What a command given this terminal should know of it beyond TERM (which ssh passes): COLORTERM, so
 * that tools use the colours the terminal has (ssh does not pass it, and guests do not accept it).
 */
export function terminalEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const c = env.COLORTERM;
  return c && /^[A-Za-z0-9._-]{1,32}$/.test(c) ? { COLORTERM: c } : {};
}
