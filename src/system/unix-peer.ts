/**
 * Who is at the other end of an accepted unix-socket connection, for a daemon that serves other users.
 *
 * Node has no getsockopt(SO_PEERCRED). The kernel still says who it is, through two documented
 * interfaces: sock_diag (read with `ss -x`, iproute2) pairs the daemon's end of the connection with
 * the client's socket inode and names the processes holding it; /proc/<pid>/status gives each one's
 * effective uid, gid and supplementary groups. The client holds its end open while it waits for the
 * answer, so the holders are live. When no process, or processes of different users, hold the client's
 * end (a socket handed between users), the answer is "unknown" and the caller refuses.
 *
 * @module
 */
import { fstatSync, readFileSync } from 'node:fs';
import { runUnchecked } from './exec.js';

export interface PeerCredentials {
  uid: number;
  gid: number;
  /** Supplementary groups. */
  groups: number[];
  /** The processes holding the client's end. */
  pids: number[];
}

/** The line of `ss -xpn` for the socket with local inode `ino`: its peer inode and holders. */
export function parseSsUnix(text: string): Map<number, { peer: number; pids: number[] }> {
  const out = new Map<number, { peer: number; pids: number[] }>();
  for (const line of text.split('\n')) {
    // ... <local address or *> <local inode> <peer address or *> <peer inode> [users:((...))]
    const m = / (\d+) +\S+ +(\d+)(?: +users:\((.*)\))?\s*$/.exec(line);
    if (!m) continue;
    const pids = [...(m[3] ?? '').matchAll(/pid=(\d+)/g)].map((p) => Number(p[1]));
    out.set(Number(m[1]), { peer: Number(m[2]), pids: [...new Set(pids)] });
  }
  return out;
}

/** Effective uid, gid and supplementary groups of a process, from /proc/<pid>/status. */
export function processCredentials(pid: number): Omit<PeerCredentials, 'pids'> | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const ids = (field: string) => /^(\w+):\s*(.*)$/m.exec(status.split('\n').find((l) => l.startsWith(`${field}:`)) ?? '')?.[2]?.trim().split(/\s+/).filter(Boolean).map(Number);
  const uid = ids('Uid')?.[1];
  const gid = ids('Gid')?.[1];
  if (uid === undefined || gid === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  return { uid, gid, groups: (ids('Groups') ?? []).filter(Number.isInteger) };
}

/**
 * The credentials of the client connected on `fd` (the daemon's end of an accepted connection), or
 * undefined when they cannot be told for sure.
 */
export async function unixPeerCredentials(fd: number): Promise<PeerCredentials | undefined> {
  let ino: number;
  try {
    ino = fstatSync(fd).ino;
  } catch {
    return undefined;
  }
  const r = await runUnchecked(['ss', '-xpnH'], { timeoutMs: 10_000, maxOutput: 16 * 1024 * 1024 });
  if (r.code !== 0) return undefined;
  const sockets = parseSsUnix(r.stdout);
  const peer = sockets.get(ino)?.peer;
  if (!peer) return undefined;
  const holders = (sockets.get(peer)?.pids ?? []).filter((pid) => pid !== process.pid);
  if (holders.length === 0) return undefined;
  const creds = holders.map(processCredentials);
  const first = creds[0];
  if (!first || creds.some((c) => !c || c.uid !== first.uid || c.gid !== first.gid || c.groups.join(',') !== first.groups.join(','))) return undefined;
  return { ...first, pids: holders };
}
