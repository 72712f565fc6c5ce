/** Reaching a VM from the CLI: ask the daemon for the target, then run the system ssh. */
import type { ApiClient } from '../api/client.js';
import { ROUTES } from '../api/routes.js';
import type { SSHTarget } from '../api/types.js';
import { session } from '../drivers/ssh/client.js';

export function sshTarget(client: ApiClient, name: string): Promise<SSHTarget> {
  return client.call(ROUTES.vmSSH, { name });
}

/** Runs a command (or a shell) in the VM attached to this terminal; resolves with its exit status. */
export function attach(target: SSHTarget, command: string[] | undefined, tty: boolean | 'auto' = 'auto'): Promise<number> {
  return session(target, { ...(command && command.length ? { command } : {}), tty });
}
