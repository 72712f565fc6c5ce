/**
 * Giving a guest its own identity over SSH (see guest/reidentify.ts for the script and why the restore's
 * identity connection is safe): a restored child right after its state is loaded, and the source VM of a
 * snapshot right after it resumes, so that no running VM keeps serving the host key the snapshot holds.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { operationFailed } from '../../api/errors.js';
import { parseDuration } from '../../config/duration.js';
import type { SSHTarget } from '../../api/types.js';
import { exec as sshExec, waitForSSH } from '../../drivers/ssh/client.js';
import { generateHostKey, type KeyPair } from '../../drivers/ssh/keys.js';
import { hostAliases, hostKeyAlias, pin } from '../../drivers/ssh/known-hosts.js';
import { IDENTITY_OK, reidentifyScript } from '../../guest/reidentify.js';
import { vmFiles } from '../../model/filenames.js';
import { lastLines } from '../../system/exec.js';
import type { VMRow } from '../../store/vms.js';
import type { VMServiceDeps } from './deps.js';
import { sshTargetFor, vmHostKey } from './ssh.js';

type Deps = Pick<VMServiceDeps, 'config' | 'layout'>;

/** Runs the identity script on the guest behind target; resolves once sshd serves hostKey. */
export async function applyIdentity(target: SSHTarget, name: string, hostKey: KeyPair, signal?: AbortSignal): Promise<void> {
  const script = reidentifyScript({ hostname: name, hostKey, entropy: randomBytes(64), now: new Date() });
  const r = await sshExec(target, ['sh', '-s'], { input: script, timeoutMs: 300_000, connectTimeoutS: 10, ...(signal ? { signal } : {}) });
  if (r.code !== 0 || !r.stdout.includes(IDENTITY_OK)) {
    throw operationFailed(`could not give vm ${name} its own identity (exit ${r.code}): ${lastLines(r.stderr, 3) || 'no output'}`);
  }
}

/**
 * A restored child: connects to its own freshly bound address, trusting only the snapshot's host key
 * through a one-off known_hosts file and no shared connection, and installs the child's own key (made
 * and pinned by the seed stage). Readiness is checked afterwards against the pinned key only.
 */
export async function identifyRestored(deps: Deps, row: VMRow, snapshotHostKey: string, signal: AbortSignal): Promise<void> {
  const files = vmFiles(deps.layout.vmsDir, row.id);
  const alias = hostKeyAlias(row.id);
  writeFileSync(files.restoreKnownHosts, `${alias} ${snapshotHostKey.trim().split(/\s+/).slice(0, 2).join(' ')}\n`, { mode: 0o600 });
  const { controlPath: _none, ...base } = sshTargetFor(deps, row);
  const target: SSHTarget = { ...base, knownHostsPath: files.restoreKnownHosts, hostKeyAlias: alias };
  await waitForSSH(target, { timeoutMs: parseDuration(deps.config.ssh_wait_timeout) ?? 300_000, intervalMs: 100, signal });
  await applyIdentity(target, row.name, await vmHostKey(deps, row), signal);
}

/** Gives a running VM a new host key (over its pinned connection), then pins it and keeps it for later boots. */
export async function rekeyRunning(deps: Deps, row: VMRow, signal?: AbortSignal): Promise<void> {
  const kp = await generateHostKey('banger-vm');
  await applyIdentity(sshTargetFor(deps, row), row.name, kp, signal);
  await keepHostKey(deps, row, kp);
}

/** A stopped VM's next boot uses a new host key (its seed disk carries it); pinned now. */
export async function rekeyStopped(deps: Deps, row: VMRow): Promise<void> {
  await keepHostKey(deps, row, await generateHostKey('banger-vm'));
}

async function keepHostKey(deps: Deps, row: VMRow, kp: KeyPair): Promise<void> {
  const priv = vmFiles(deps.layout.vmsDir, row.id).hostKey;
  writeFileSync(`${priv}.pub`, kp.publicKey + '\n', { mode: 0o644 });
  writeFileSync(priv, kp.privateKey, { mode: 0o600 });
  await pin(deps.layout.knownHostsPath, hostAliases(row), kp.publicKey);
}

/** Sets a running guest's clock to the host's (after a resume or a load of saved state). */
export async function setGuestClock(deps: Deps, row: VMRow): Promise<void> {
  const ms = Date.now();
  const r = await sshExec(sshTargetFor(deps, row), ['date', '-u', '-s', `@${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`], { timeoutMs: 15_000, connectTimeoutS: 5 });
  if (r.code !== 0) throw operationFailed(`date exited ${r.code}: ${lastLines(r.stderr, 2)}`);
}
