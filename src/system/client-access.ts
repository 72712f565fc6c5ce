/**
 * Whether a client may have the daemon read a host path on its behalf. A daemon running as root reads
 * image and kernel files for clients of other users; it must not read for them what they could not
 * read themselves (`/etc/shadow`, another user's files) nor a device (`/dev/sda`).
 *
 * The kernel decides: `test`, or `find` for a directory, runs through setpriv with the client's uid,
 * gid and groups, so permissions, ACLs and every directory on the way count as for the client itself.
 * Device nodes, FIFOs and sockets are refused for everyone. The check is made when the request comes
 * in; the daemon reads the files right after.
 *
 * @module
 */
import { statSync } from 'node:fs';
import { badRequest } from '../api/errors.js';
import { runUnchecked } from './exec.js';

export interface ClientIdentity {
  uid: number;
  gid: number;
  groups: number[];
}

export interface ClientPath {
  /** The option the client gave it with (`--rootfs`), for messages. */
  flag: string;
  path: string;
  /** What it must be: a regular file, a directory, or either. */
  kind: 'file' | 'dir' | 'any';
}

/** Refuses a path that is not a regular file or directory of the expected kind (device nodes above all). */
export function checkPathKind(p: ClientPath): void {
  let st;
  try {
    st = statSync(p.path);
  } catch {
    return; // missing: the service says so with its own words
  }
  const what = st.isBlockDevice() ? 'a block device' : st.isCharacterDevice() ? 'a character device' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : undefined;
  if (what) throw badRequest(`${p.flag} ${p.path} is ${what}; banger reads only regular files`, `give ${p.flag} a file (e.g. an ext4 image made with mkfs.ext4 -d)`);
  if (p.kind === 'file' && !st.isFile()) throw badRequest(`${p.flag} ${p.path} is not a regular file`);
  if (p.kind === 'dir' && !st.isDirectory()) throw badRequest(`${p.flag} ${p.path} is not a directory`);
}

/** The argv that runs `argv` with the client's identity. */
export function asClient(who: ClientIdentity, argv: string[]): string[] {
  const groups = who.groups.length > 0 ? `--groups=${who.groups.join(',')}` : '--clear-groups';
  return ['setpriv', `--reuid=${who.uid}`, `--regid=${who.gid}`, groups, '--', ...argv];
}

/** Refuses the path unless the client could read it (and, for a directory, everything in it) itself. */
export async function checkReadableBy(who: ClientIdentity, p: ClientPath): Promise<void> {
  await checkReadable(p, who.uid, (argv) => asClient(who, argv));
}

/**
 * The same check with this process's own rights, for a daemon that runs as its owner and serves
 * only that user: a file the owner cannot read is refused with the same message, before any copy.
 */
export async function checkReadableBySelf(p: ClientPath): Promise<void> {
  await checkReadable(p, process.geteuid?.() ?? 0, (argv) => argv);
}

async function checkReadable(p: ClientPath, uid: number, wrap: (argv: string[]) => string[]): Promise<void> {
  checkPathKind(p);
  let st;
  try {
    st = statSync(p.path);
  } catch {
    st = undefined;
  }
  const refused = badRequest(
    `${p.flag} ${p.path}: permission denied for uid ${uid}; the daemon reads client files only with the client's own rights`,
    `make the file readable by your user, or give a copy you own`,
  );
  if (st?.isDirectory()) {
    // Anything in it the client could not read or enter, or a device, is one line of output.
    const argv = wrap(['find', p.path, '(', '-type', 'b', '-o', '-type', 'c', '-o', '-type', 'p', '-o', '-type', 's', '-o', '!', '-readable', '-o', '-type', 'd', '!', '-executable', ')', '-print', '-quit']);
    const r = await runUnchecked(argv, { timeoutMs: 60_000, maxOutput: 64 * 1024 });
    if (r.code !== 0 || r.stdout.trim() !== '') throw refused;
    return;
  }
  if (st === undefined) return; // missing: the service says so
  const r = await runUnchecked(wrap(['test', '-r', p.path]), { timeoutMs: 10_000 });
  if (r.code !== 0) throw refused;
}
