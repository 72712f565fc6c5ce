/** How banger reaches a VM's sshd: the client key, the VM's own pinned host key, targets and ssh_config. */
import { isPoolName } from '../../model/vm-name.js';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SSHTarget } from '../../api/types.js';
import { generateHostKey, type KeyPair } from '../../drivers/ssh/keys.js';
import { hostKeyAlias } from '../../drivers/ssh/known-hosts.js';
import { writeSSHConfig } from '../../drivers/ssh/ssh-config.js';
import { vmFiles } from '../../model/filenames.js';
import type { VMRow } from '../../store/vms.js';
import type { VMServiceDeps } from './deps.js';

type PathDeps = Pick<VMServiceDeps, 'config' | 'layout'>;

export function clientKeyPath(deps: PathDeps): string {
  const p = deps.config.ssh_key_path;
  if (!p) return deps.layout.sshKeyPath;
  return p.startsWith('~/') ? join(process.env.HOME ?? '/root', p.slice(2)) : p;
}

/** ssh adds up to 17 characters to a control path while it creates the socket. */
const MAX_CONTROL_PATH = 107 - 17;

export function sshTargetFor(deps: PathDeps, row: Pick<VMRow, 'id' | 'name' | 'runtime'>): SSHTarget {
  const controlPath = vmFiles(deps.layout.vmsDir, row.id).run.sshControl;
  const shared = deps.layout.mode === 'user' && Buffer.byteLength(controlPath) <= MAX_CONTROL_PATH;
  return {
    ...(shared ? { controlPath } : {}),
    vm: row.name,
    host: row.runtime.sshHost ?? '127.0.0.1',
    port: row.runtime.sshPort ?? 22,
    user: 'root',
    keyPath: clientKeyPath(deps),
    knownHostsPath: deps.layout.knownHostsPath,
    hostKeyAlias: hostKeyAlias(row.id),
  };
}

/**
 * A fresh connection to a running VM, not its shared one (that was authenticated with the key it had
 * then): on a one-off control path, so that proving the new host key is authentication only, with no
 * login (no session, no user manager started in the guest). The caller ends it. Where a control path
 * cannot be used, a plain handshake.
 */
export function proofTargetFor(deps: PathDeps, row: Pick<VMRow, 'id' | 'name' | 'runtime'>): SSHTarget {
  const { controlPath: shared, ...fresh } = sshTargetFor(deps, row);
  const proof = vmFiles(deps.layout.vmsDir, row.id).run.sshProofControl;
  if (shared === undefined || Buffer.byteLength(proof) > MAX_CONTROL_PATH) return fresh;
  // A socket left by an earlier proof that did not end would be taken for a live connection.
  rmSync(proof, { force: true });
  return { ...fresh, controlPath: proof };
}

/** The VM's own SSH host key: made once, kept in its directory, pinned before the first boot. */
export async function vmHostKey(deps: Pick<VMServiceDeps, 'layout'>, row: VMRow): Promise<KeyPair> {
  const priv = vmFiles(deps.layout.vmsDir, row.id).hostKey;
  if (existsSync(priv) && existsSync(`${priv}.pub`)) {
    return { privateKey: readFileSync(priv, 'utf8'), publicKey: readFileSync(`${priv}.pub`, 'utf8').trim() };
  }
  const kp = await generateHostKey('banger-vm');
  writeFileSync(`${priv}.pub`, kp.publicKey + '\n', { mode: 0o644 });
  writeFileSync(priv, kp.privateKey, { mode: 0o600 });
  return kp;
}

/** Rewrites banger's ssh_config so `ssh <name>.vm` reaches every running VM. */
export async function syncSSHConfig(deps: Pick<VMServiceDeps, 'config' | 'layout' | 'repo'>): Promise<string> {
  const hosts = deps.repo
    .list()
    // The warm pool's build VMs are banger's own: no `.vm` name.
    .filter((r) => r.state === 'running' && r.runtime.sshPort && !isPoolName(r.name))
    .map((r) => ({ alias: `${r.name}.vm`, hostName: r.runtime.sshHost ?? '127.0.0.1', port: r.runtime.sshPort!, hostKeyAlias: hostKeyAlias(r.id) }));
  await writeSSHConfig(deps.layout.sshConfigPath, { keyPath: clientKeyPath(deps), knownHostsPath: deps.layout.knownHostsPath, hosts });
  return deps.layout.sshConfigPath;
}
