/** A shell in a running VM for the web UI's terminal: the VM's SSH target, its client key and pinned host key. */
import { readFile } from 'node:fs/promises';
import { BangerError } from '../../api/errors.js';
import { lookup } from '../../drivers/ssh/known-hosts.js';
import { openPtySession, type PtySession } from '../../drivers/ssh/pty-session.js';
import type { VMService } from './vm-service.js';

export async function openVMTerminal(vms: VMService, ref: string, size: { cols: number; rows: number }): Promise<PtySession> {
  const t = vms.sshTarget(ref);
  const pinned = await lookup(t.knownHostsPath, t.hostKeyAlias);
  if (!pinned) throw new BangerError('unavailable', `vm ${t.vm} has no pinned host key`, { hint: `restart it: banger vm restart ${t.vm}` });
  const privateKey = await readFile(t.keyPath, 'utf8');
  return openPtySession({ host: t.host, port: t.port, user: t.user, privateKey, pinnedHostKey: pinned }, size);
}
