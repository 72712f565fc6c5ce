import { buildInfo, sameBuild } from '../../api/build-info.js';
import type { DoctorCheck } from '../../api/types.js';
import { fail, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';

/** Pings bangerd without starting it. */
export async function checkDaemon(env: DoctorEnv): Promise<DoctorCheck> {
  const sock = env.layout.socketPath;
  let ping;
  try {
    ping = await env.ping();
  } catch (err) {
    return fail(
      'daemon',
      [`something answers on ${sock} but not like bangerd: ${err instanceof Error ? err.message : String(err)}`],
      'banger daemon stop, then run any banger command to start a fresh one',
    );
  }
  if (!ping) return warn('daemon', ['not running; it starts on first use', `socket ${sock}`]);
  const details = [`bangerd ${ping.version} (pid ${ping.pid}) on ${ping.socket}`];
  if (!sameBuild(ping, buildInfo())) details.push('a different build than this CLI: the next banger command restarts it');
  return pass('daemon', ...details);
}
