/**
 * `[[file_sync]]`: files and directories of the daemon's host (credentials, dotfiles) copied into a VM
 * at every start, once its sshd answers. A file is installed root-owned with the entry's mode (0600
 * unless given); a directory is copied whole, each file keeping its own permissions. A host path that
 * does not exist is a warning, not a failure; any other failure fails the start naming the entry.
 *
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { operationFailed } from '../../api/errors.js';
import type { SSHTarget } from '../../api/types.js';
import type { FileSyncEntry } from '../../config/schema.js';
import { exec } from '../../drivers/ssh/client.js';
import { run } from '../../system/exec.js';
import type { OpContext } from '../op-context.js';

const DEFAULT_MODE = '0600';
const TIMEOUT_MS = 120_000;

/** `~/` at the start of $1 is the guest user's home (/root). */
const GUEST_PATH = `case "$1" in '~/'*) set -- "$HOME/\${1#??}" "$2" ;; esac`;

/** Installs stdin as $1 with mode $2, root-owned, replacing what was there in one rename. */
const INSTALL_FILE = `set -e
${GUEST_PATH}
mkdir -p -- "$(dirname -- "$1")"
t="$1.banger-sync.$$"
trap 'rm -f -- "$t"' EXIT
umask 077
cat > "$t"
chown 0:0 "$t" 2>/dev/null || [ "$(id -u)" != 0 ]
chmod "$2" "$t"
mv -f -- "$t" "$1"
trap - EXIT`;

/** Unpacks a tar on stdin into directory $1 (modes kept, owned by root). */
const INSTALL_DIR = `set -e
${GUEST_PATH}
mkdir -p -- "$1"
tar -C "$1" -xf - --no-same-owner`;

export function hostPathOf(p: string, home = process.env.HOME ?? homedir()): string {
  return p.startsWith('~/') ? join(home, p.slice(2)) : p;
}

/** Copies every entry into the VM; returns how many were copied. */
export async function syncFiles(target: SSHTarget, entries: readonly FileSyncEntry[], ctx: OpContext): Promise<number> {
  let copied = 0;
  for (const [i, e] of entries.entries()) {
    const name = `file_sync[${i}] (${e.host} -> ${e.guest})`;
    const host = hostPathOf(e.host);
    if (!existsSync(host)) {
      ctx.log(`${name}: ${host} does not exist on the host; skipped`, 'warn');
      continue;
    }
    let r;
    if (statSync(host).isDirectory()) {
      const work = await mkdtemp(join(tmpdir(), 'banger-sync-'));
      try {
        const tar = join(work, 'dir.tar');
        await run(['tar', '-C', host, '-cf', tar, '.'], { signal: ctx.signal });
        r = await exec(target, ['sh', '-c', INSTALL_DIR, 'sh', e.guest, ''], { input: await readFile(tar), timeoutMs: TIMEOUT_MS, signal: ctx.signal });
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    } else {
      const mode = e.mode ?? DEFAULT_MODE;
      r = await exec(target, ['sh', '-c', INSTALL_FILE, 'sh', e.guest, mode], { input: await readFile(host), timeoutMs: TIMEOUT_MS, signal: ctx.signal });
    }
    if (r.code !== 0) {
      throw operationFailed(`${name} could not be copied into vm ${target.vm}: ${r.stderr.trim() || `exit status ${r.code}`}`, `fix or remove the entry in the config file, then banger vm start ${target.vm}`);
    }
    copied++;
  }
  return copied;
}
