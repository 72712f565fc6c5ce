/**
 * Least privilege: whether bangerd runs as root or as its owner with banger's root helper (and whether
 * the helper answers), and whether the system install's units keep their hardening.
 */
import type { DoctorCheck } from '../../api/types.js';
import { DAEMON_HARDENING, HELPER_HARDENING, HELPER_UNIT_NAME, HELPER_UNIT_PATH, missingHardening, UNIT_PATH, unitSettings } from '../../system/systemd.js';
import { daemonPing, fail, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';

const NAME = 'least-privilege';
const SPLIT_FIX = 'sudo banger system install --owner "$USER" (bangerd as you, a small root helper for taps and nftables)';

/** What the installed units say, and the hardening they lack. */
function unitFindings(env: DoctorEnv): { details: string[]; missing: string[] } {
  const details: string[] = [];
  const missing: string[] = [];
  const daemonUnit = env.exists(UNIT_PATH) ? env.readText?.(UNIT_PATH) : undefined;
  if (daemonUnit === undefined) return { details, missing };
  const user = unitSettings(daemonUnit).get('User');
  if (!user) {
    details.push(`${UNIT_PATH} runs bangerd as root (installed without --owner)`);
    return { details, missing };
  }
  const lackDaemon = missingHardening(daemonUnit, DAEMON_HARDENING);
  details.push(`${UNIT_PATH}: User=${user}${lackDaemon.length ? `; lacks ${lackDaemon.join(', ')}` : '; hardened (NoNewPrivileges, ProtectSystem, ProtectHome, no capabilities but CAP_NET_BIND_SERVICE)'}`);
  missing.push(...lackDaemon);
  const helperUnit = env.exists(HELPER_UNIT_PATH) ? env.readText?.(HELPER_UNIT_PATH) : undefined;
  if (helperUnit === undefined) {
    details.push(`${HELPER_UNIT_PATH} is missing: bridge mode has no root helper`);
    missing.push(HELPER_UNIT_NAME);
    return { details, missing };
  }
  const lackHelper = missingHardening(helperUnit, HELPER_HARDENING);
  details.push(`${HELPER_UNIT_PATH}: root${lackHelper.length ? `; lacks ${lackHelper.join(', ')}` : `; hardened (CapabilityBoundingSet=${HELPER_HARDENING.CapabilityBoundingSet}, NoNewPrivileges, ProtectSystem=strict)`}`);
  missing.push(...lackHelper);
  return { details, missing };
}

export async function checkPrivileges(env: DoctorEnv): Promise<DoctorCheck> {
  const ping = await daemonPing(env);
  const units = unitFindings(env);
  const details: string[] = [];
  if (!ping) details.push('the daemon is not running');
  else if (ping.rootHelper) {
    const h = ping.rootHelper;
    details.push(`bangerd runs as uid ${ping.uid ?? '?'}; bridge, taps and nftables go through the root helper on ${h.socket}: ${h.reachable ? 'reachable' : `not reachable (${h.error ?? 'no answer'})`}`);
    if (!h.reachable) return fail(NAME, [...details, ...units.details], `systemctl status ${HELPER_UNIT_NAME}; journalctl -u ${HELPER_UNIT_NAME} -n 50`);
  } else if (ping.uid === 0) details.push('bangerd runs as root and makes taps and nftables rules itself (no root helper)');
  else details.push(`bangerd runs as uid ${ping.uid ?? '?'} without privileges and without a root helper: bridge mode needs root or the system install`);
  details.push(...units.details);
  if (units.missing.length > 0) return warn(NAME, details, `sudo banger system install --owner <user> rewrites the units with ${units.missing.join(', ')}`);
  if (ping?.uid === 0 && ping.socket.startsWith('/run/banger/')) return warn(NAME, details, SPLIT_FIX);
  return pass(NAME, ...details);
}
