/** Finds the daemon, starting it (or restarting a different build) on first use: shared by the CLI and the SDK. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../api/client.js';
import { buildInfo, sameBuild } from '../api/build-info.js';
import { tryPing } from '../api/daemon-status.js';
import { BangerError } from '../api/errors.js';
import { ROUTES } from '../api/routes.js';
import type { PingResult } from '../api/types.js';
import { resolveLayout, socketPathProblem, type Layout } from '../config/paths.js';
import { spawnDetached } from '../system/exec.js';
import { pidAlive } from '../system/proc.js';

export const BANGERD_SCRIPT = fileURLToPath(new URL('../bin/bangerd.js', import.meta.url));

function startLogPath(layout: Layout): string {
  return join(layout.runtimeDir, 'bangerd.start.log');
}

export function startDaemon(layout: Layout, env: NodeJS.ProcessEnv): number {
  const problem = socketPathProblem(layout.socketPath);
  if (problem) throw new BangerError('bad_request', problem, { hint: 'set BANGER_HOME or --socket to a shorter path' });
  mkdirSync(layout.runtimeDir, { recursive: true, mode: 0o700 });
  const logFile = startLogPath(layout);
  const argv = [process.execPath, BANGERD_SCRIPT, '--socket', layout.socketPath];
  if (layout.mode === 'system') argv.push('--system');
  return spawnDetached(argv, { env, logFile });
}

export async function waitForDaemon(client: ApiClient, pid: number | undefined, layout: Layout, timeoutMs = 15_000): Promise<PingResult> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ping = await tryPing(client, 1000);
    if (ping) return ping;
    if (pid !== undefined && !pidAlive(pid)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  let tail = '';
  try {
    tail = readFileSync(startLogPath(layout), 'utf8').trim().split('\n').slice(-6).join('\n');
  } catch {
    /* no log */
  }
  throw new BangerError('unavailable', `bangerd did not start${tail ? `:\n${tail}` : ''}`, {
    hint: `see ${layout.daemonLog}; fix the problem above, then retry (banger doctor checks the host)`,
  });
}

export async function waitGone(client: ApiClient, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await tryPing(client, 500))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * The layout of the daemon to talk to: `socket` (or BANGER_SOCKET) when given; else the user's, unless
 * only a system install's socket exists.
 */
export function clientLayout(env: NodeJS.ProcessEnv, socket?: string): Layout {
  const e = { ...env };
  if (socket) e.BANGER_SOCKET = socket;
  const user = resolveLayout({ env: e });
  if (!e.BANGER_HOME && !e.BANGER_SOCKET && !existsSync(user.socketPath)) {
    const system = resolveLayout({ env: e, system: true });
    if (existsSync(system.socketPath)) return system;
  }
  return user;
}

export interface EnsureOptions {
  /** The environment the daemon is started with. */
  env: NodeJS.ProcessEnv;
  /** Told when the daemon is started or restarted (one line, no newline). */
  notice?: (line: string) => void;
}

/** Returns a client for a daemon of this very build, starting or restarting one as needed. */
export async function ensureDaemon(layout: Layout, opts: EnsureOptions): Promise<ApiClient> {
  const notice = opts.notice ?? (() => undefined);
  const client = new ApiClient(layout.socketPath);
  const me = buildInfo();
  const ping = await tryPing(client);
  if (ping && sameBuild(ping, me)) return client;
  if (ping) {
    notice(`banger: restarting bangerd (running ${ping.version}/${ping.commit.slice(0, 8)}, this client is ${me.version}/${me.commit.slice(0, 8)})`);
    await client.call(ROUTES.shutdown, {}).catch(() => undefined);
    if (!(await waitGone(client))) throw new BangerError('unavailable', `bangerd (pid ${ping.pid}) did not stop`, { hint: `kill ${ping.pid} and retry` });
  }
  const pid = startDaemon(layout, opts.env);
  const started = await waitForDaemon(client, pid, layout);
  notice(`banger: started bangerd (pid ${started.pid}, log ${started.logPath})`);
  return client;
}
