/** A real root helper (`bangerd --helper`) for tests, started with only the capabilities its unit gives it. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnDetached } from '../system/exec.js';
import { signalProcess, waitForExit } from '../system/proc.js';
import { HELPER_CAPABILITIES } from '../system/systemd.js';

export const BANGERD = fileURLToPath(new URL('../bin/bangerd.js', import.meta.url));

export interface HelperProcess {
  pid: number;
  socket: string;
  log(): string;
  stop(): Promise<void>;
}

/** setpriv's spelling of the unit's CapabilityBoundingSet (CAP_NET_ADMIN -> +net_admin). */
export function boundingSetArg(): string {
  return ['-all', ...HELPER_CAPABILITIES.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
}

export async function startRootHelper(opts: { owner: string; socket: string; bridges: string[]; logFile: string }): Promise<HelperProcess> {
  const argv = [
    'setpriv',
    `--bounding-set=${boundingSetArg()}`,
    '--inh-caps=-all',
    '--no-new-privs',
    '--',
    process.execPath,
    BANGERD,
    '--helper',
    '--owner',
    opts.owner,
    '--socket',
    opts.socket,
    ...opts.bridges.flatMap((b) => ['--bridge', b]),
  ];
  const pid = spawnDetached(argv, { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, logFile: opts.logFile });
  const log = () => (existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8') : '');
  for (let i = 0; i < 200 && !log().includes('root helper listening'); i++) {
    if (await waitForExit(pid, 50)) break;
  }
  if (!log().includes('root helper listening')) throw new Error(`the root helper did not start:\n${log()}`);
  return {
    pid,
    socket: opts.socket,
    log,
    stop: async () => {
      signalProcess(pid, 'SIGTERM');
      if (!(await waitForExit(pid, 10_000))) signalProcess(pid, 'SIGKILL');
    },
  };
}
