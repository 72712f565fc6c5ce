/**
 * Host paths a client names in a request (image register, image pull, kernel import) are read by the daemon. A
 * daemon running as root reads them only if the client's user could: the client is identified from
 * the connection itself (system/unix-peer.ts) and the check runs with its rights
 * (system/client-access.ts). Over TCP (the web UI's listener) there is no such user to tell, so a root
 * daemon refuses those requests there. Device nodes are refused for everyone.
 *
 * @module
 */
import type { Context } from 'hono';
import { BangerError } from '../api/errors.js';
import { checkPathKind, checkReadableBy, checkReadableBySelf, type ClientPath } from '../system/client-access.js';
import { unixPeerCredentials, type PeerCredentials } from '../system/unix-peer.js';

/**
 * The file descriptor of the daemon's end of the request's connection; null for a request made inside
 * the daemon's own process (no connection: app.request), which no client sent.
 */
function connectionFd(c: Context): number | undefined | null {
  const env = c.env as { incoming?: { socket?: { _handle?: { fd?: number } } } } | undefined;
  if (env?.incoming === undefined) return null;
  const fd = env.incoming.socket?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Whether the request came over TCP (the web UI's listener) rather than the daemon's unix socket. */
function overTcp(c: Context): boolean {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return typeof env?.incoming?.socket?.remoteAddress === 'string';
}

export interface ClientPathOptions {
  /** The daemon's effective uid (process.geteuid()). */
  euid?: number;
  /** Finds the client's credentials (unixPeerCredentials). */
  peer?: (fd: number) => Promise<PeerCredentials | undefined>;
  /** Whether other users reach the socket (system mode: BANGER_OWNER is set and the socket is group-shared). */
  shared?: boolean;
}

/** Refuses the request unless its client may have the daemon read each of `paths`. */
export async function checkClientPaths(c: Context, paths: Array<Omit<ClientPath, 'path'> & { path?: string }>, opts: ClientPathOptions = {}): Promise<void> {
  const given = paths.filter((p): p is ClientPath => typeof p.path === 'string' && p.path !== '');
  if (given.length === 0) return;
  for (const p of given) checkPathKind(p);
  const euid = opts.euid ?? process.geteuid?.() ?? 0;
  const fd = connectionFd(c);
  if (euid !== 0) {
    // An unprivileged daemon reads with its own user's rights. In user mode only that user reaches its
    // socket; in system mode its group does too, and a client of another uid could have the daemon read
    // what only the daemon's user may: such requests are refused.
    if (!(opts.shared ?? Boolean(process.env.BANGER_OWNER)) || fd === null) return;
    const who = fd === undefined || overTcp(c) ? undefined : await (opts.peer ?? unixPeerCredentials)(fd);
    if (who && (who.uid === euid || who.uid === 0)) {
      for (const p of given) await checkReadableBySelf(p);
      return;
    }
    throw new BangerError('bad_request', `this daemon runs as uid ${euid} and reads files a request names only for that user${who ? `, not for uid ${who.uid}` : ' (the sender could not be told)'}`, {
      hint: 'ask the daemon\'s owner to register the file, or run your own banger (user mode)',
    });
  }
  if (fd === null) return;
  if (overTcp(c)) {
    throw new BangerError('bad_request', 'this daemon runs as root and reads files a request names only for requests over its unix socket, where it can tell which user sent them; the web UI cannot name host files', {
      hint: 'run the command from a shell on this machine, e.g. banger image register or banger kernel import',
    });
  }
  const who = fd === undefined ? undefined : await (opts.peer ?? unixPeerCredentials)(fd);
  if (!who) {
    throw new BangerError('unavailable', 'cannot tell which user sent this request, so the daemon will not read the files it names', {
      hint: 'send it over the daemon\'s unix socket from the machine the daemon runs on (ss from iproute2 must be installed)',
    });
  }
  if (who.uid === 0) return;
  for (const p of given) await checkReadableBy(who, p);
}
