/**
 * Asking a running bangerd, never starting one: its ping, and the hypervisor verdict it cached.
 * For callers that report on the daemon (banger daemon status, banger doctor, banger system).
 */
import { DaemonUnreachableError, type ApiClient } from './client.js';
import { ROUTES } from './routes.js';
import type { HypervisorVerdictInfo, PingResult } from './types.js';

/** The daemon's ping; undefined when nothing answers on the socket. */
export async function tryPing(client: ApiClient, timeoutMs = 3000): Promise<PingResult | undefined> {
  try {
    return await client.call(ROUTES.ping, {}, undefined, { timeoutMs });
  } catch (err) {
    if (err instanceof DaemonUnreachableError) return undefined;
    throw err;
  }
}

/** The daemon's cached hypervisor verdict; undefined when nothing answers on the socket. */
export async function tryHypervisorVerdict(client: ApiClient, timeoutMs = 3000): Promise<HypervisorVerdictInfo | undefined> {
  try {
    return await client.call(ROUTES.hypervisor, {}, undefined, { timeoutMs });
  } catch (err) {
    if (err instanceof DaemonUnreachableError) return undefined;
    throw err;
  }
}
