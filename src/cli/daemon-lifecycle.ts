/** Finds the daemon, starting it (or restarting a different build) on first use. */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../api/client.js';
import { buildInfo, sameBuild } from '../api/build-info.js';
import { tryPing } from '../api/daemon-status.js';
import { BangerError } from '../api/errors.js';
import { ROUTES } from '../api/routes.js';
import type { PingResult } from '../api/types.js';
import { socketPathProblem, type Layout } from '../config/paths.js';
import { spawnDetached } from '../system/exec.js';
import { pidAlive } from '../system/proc.js';
import type { CliIO } from './io.js';

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

/** Returns a client for a daemon of this very build, starting or restarting one as needed. */
export async function ensureDaemon(layout: Layout, io: CliIO): Promise<ApiClient> {
  const client = new ApiClient(layout.socketPath);
  const me = buildInfo();
  const ping = await tryPing(client);
  if (ping && sameBuild(ping, me)) return client;
  if (ping) {
    io.stderr.write(`banger: restarting bangerd (running ${ping.version}/${ping.commit.slice(0, 8)}, this CLI is ${me.version}/${me.commit.slice(0, 8)})\n`);
    await client.call(ROUTES.shutdown, {}).catch(() => undefined);
    if (!(await waitGone(client))) throw new BangerError('unavailable', `bangerd (pid ${ping.pid}) did not stop`, { hint: `kill ${ping.pid} and retry` });
  }
  const pid = startDaemon(layout, io.env);
  const started = await waitForDaemon(client, pid, layout);
  io.stderr.write(`banger: started bangerd (pid ${started.pid}, log ${started.logPath})\n`);
  return client;
}
