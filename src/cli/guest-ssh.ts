/** Reaching a VM from the CLI: ask the daemon for the target, then run the system ssh (here, or on a remote context's host). */
import type { ApiClient } from '../api/client.js';
import { ROUTES } from '../api/routes.js';
import type { SSHTarget } from '../api/types.js';
import { session, shellJoin, sshArgv } from '../drivers/ssh/client.js';
import { runAttached } from '../system/exec.js';
export function sshTarget(client: ApiClient, name: string): Promise<SSHTarget> {
  return client.call(ROUTES.vmSSH, { name });
}

import type { RemoteHop } from '../sdk/exec.js';

/**
 * Runs a command (or a shell) in the VM attached to this terminal; resolves with its exit status. Through a
 * remote hop, the guest ssh runs on the remote host (the target's key and known_hosts are paths there).
 */
export function attach(target: SSHTarget, command: string[] | undefined, tty: boolean | 'auto' = 'auto', hop?: RemoteHop): Promise<number> {
  if (!hop) return session(target, { ...(command && command.length ? { command } : {}), tty });
  const outer = tty === true ? '-tt' : tty === 'auto' && process.stdin.isTTY ? '-t' : '-T';
  // The remote end has a terminal exactly when the outer ssh asked for one.
  const inner = sshArgv(target, { ...(command && command.length ? { command } : {}), tty: outer !== '-T', connectTimeoutS: 10 });
  return runAttached(hop.remoteCommand(shellJoin(inner), outer));
}
