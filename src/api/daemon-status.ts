/**
 * Asking a running bangerd, never starting one: its ping, and the hypervisor verdict it cached.
 * For callers that report on the daemon (banger daemon status, banger doctor, banger system).
 */
import { DaemonUnreachableError, type ApiClient } from './client.js';
import type { PingResult } from './types.js';

/** The daemon's ping; undefined when nothing answers on the socket. */
export async function tryPing(client: ApiClient, timeoutMs = 3000): Promise<PingResult | undefined> {
  try {
    return await client.get<PingResult>('/ping', { timeoutMs });
  } catch (err) {
    if (err instanceof DaemonUnreachableError) return undefined;
    throw err;
  }
}

/** Under API_PREFIX: the verdict bangerd cached, read without probing. */
export const HYPERVISOR_VERDICT_PATH = '/hypervisor';

/**
 * Whether guests run with KVM or TCG here, as bangerd decided it: by a probe at its first VM start
 * (until then, `probed` is false), cached with the reason in its store.
 */
export type HypervisorVerdictInfo =
  | { probed: false }
  | {
      probed: true;
      accel: 'kvm' | 'tcg';
      /** One line from the probe: what ran, how fast. */
      reason: string;
      /** ISO 8601. */
      probedAt: string;
      /** False when QEMU, the host kernel or /dev/kvm access changed since: the next VM start probes again. */
      current: boolean;
    };

/** The daemon's cached hypervisor verdict; undefined when nothing answers on the socket. */
export async function tryHypervisorVerdict(client: ApiClient, timeoutMs = 3000): Promise<HypervisorVerdictInfo | undefined> {
  try {
    return await client.get<HypervisorVerdictInfo>(HYPERVISOR_VERDICT_PATH, { timeoutMs });
  } catch (err) {
    if (err instanceof DaemonUnreachableError) return undefined;
    throw err;
  }
}
