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
import { setTimeout as sleep } from 'node:timers/promises';
import { endSharedConnection, exec as sshExec, shellJoin, SSHError, waitForSSH } from '../../drivers/ssh/client.js';
import { generateHostKey, type KeyPair } from '../../drivers/ssh/keys.js';
import { hostAliases, hostKeyAlias, pin } from '../../drivers/ssh/known-hosts.js';
import { channelWord, IDENTITY_OK, rekeyScript, reidentifyScript, SSHD_RELOAD_SCRIPT } from '../../guest/reidentify.js';
import { vmFiles } from '../../model/filenames.js';
import { lastLines } from '../../system/exec.js';
import type { VMRow } from '../../store/vms.js';
import type { VMServiceDeps } from './deps.js';
import { proofTargetFor, sshTargetFor, vmHostKey } from './ssh.js';

type Deps = Pick<VMServiceDeps, 'config' | 'layout'>;

/** ssh failures that mean the guest's sshd did not take the connection (yet), or dropped it: the script may be run again. */
const NOT_CONNECTED = new Set(['refused', 'closed', 'timeout', 'unreachable']);

/**
 * Runs `script` (idempotent) through `sh -s` on the guest behind target until it prints IDENTITY_OK;
 * a connection sshd did not take is tried again every 100 ms until `deadline`.
 */
async function runScript(target: SSHTarget, name: string, script: string, deadline: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    try {
      const r = await sshExec(target, ['sh', '-s'], { input: script, timeoutMs: 300_000, connectTimeoutS: 10, ...(signal ? { signal } : {}) });
      if (r.code !== 0 || !r.stdout.includes(IDENTITY_OK)) {
        throw operationFailed(`could not give vm ${name} its own identity (exit ${r.code}): ${lastLines(r.stderr, 3) || 'no output'}`);
      }
      return;
    } catch (err) {
      if (!(err instanceof SSHError) || !NOT_CONNECTED.has(err.kind) || Date.now() >= deadline) throw err;
    }
    await sleep(100, undefined, signal ? { signal } : {});
  }
}

/** Runs the identity script on the guest behind target: the files are in place, sshd not yet proven to serve hostKey. */
function applyIdentity(target: SSHTarget, name: string, hostKey: KeyPair, signal?: AbortSignal, deadline = Date.now() + 300_000): Promise<void> {
  const script = reidentifyScript({ hostname: name, hostKey, entropy: randomBytes(64), now: new Date() });
  return runScript(target, name, script, deadline, signal);
}

/**
 * Proves with `check` (a fresh handshake against the new, pinned key) that sshd serves it. An sshd that
 * keeps its keys in memory still answers with the old one: it is made to reload them over `trusted` (a
 * connection that authenticates the guest some other way) and checked again.
 */
export async function proveHostKey<T>(check: () => Promise<T>, trusted: SSHTarget, name: string, signal?: AbortSignal, onReload?: () => void): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (!(err instanceof SSHError) || err.kind !== 'host_key_mismatch') throw err;
    onReload?.();
    await runScript(trusted, name, SSHD_RELOAD_SCRIPT, Date.now() + 60_000, signal);
    return await check();
  }
}

/** The identity connection of a restored child: its own bound address, trusting only the snapshot's host key, no shared connection. */
export function restoreIdentityTarget(deps: Deps, row: VMRow, snapshotHostKey: string): SSHTarget {
  const files = vmFiles(deps.layout.vmsDir, row.id);
  const alias = hostKeyAlias(row.id);
  writeFileSync(files.restoreKnownHosts, `${alias} ${snapshotHostKey.trim().split(/\s+/).slice(0, 2).join(' ')}\n`, { mode: 0o600 });
  const { controlPath: _none, ...base } = sshTargetFor(deps, row);
  return { ...base, knownHostsPath: files.restoreKnownHosts, hostKeyAlias: alias };
}

/**
 * A restored child: connects to its own freshly bound address, trusting only the snapshot's host key
 * through a one-off known_hosts file and no shared connection, and installs the child's own key (made
 * and pinned by the seed stage) in one round trip; sshd is already up in a restored guest, so there is
 * no separate wait for it. Readiness is checked afterwards against the pinned key only (proveHostKey).
 */
export async function identifyRestored(deps: Deps, row: VMRow, target: SSHTarget, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + (parseDuration(deps.config.ssh_wait_timeout) ?? 300_000);
  await applyIdentity(target, row.name, await vmHostKey(deps, row), signal, deadline);
}

const AFTER_FAILED = 'banger-after-identity-failed';

/**
 * A restored child over the driver's guest channel (no network, no SSH: the snapshot's host key
 * authenticates nothing): the same identity script, run in the guest by the channel. Readiness is then
 * checked against the pinned key (proveHostKey), as after the SSH path. `after` (an argv, run as root
 * with HOME=/root once the identity is in place) saves work that would otherwise need an SSH session of
 * its own; what it did comes back as an exec result, and its failure does not fail the identity.
 */
export async function identifyOverChannel(
  deps: Deps,
  row: VMRow,
  send: (command: `identity ${string}`) => Promise<string>,
  after?: readonly string[],
): Promise<{ code: number; stderr: string } | undefined> {
  let script = reidentifyScript({ hostname: row.name, hostKey: await vmHostKey(deps, row), entropy: randomBytes(64), now: new Date() }, { inPlace: true });
  if (after) script += `HOME=/root ${shellJoin(after)} 2>&1 || echo "${AFTER_FAILED} $?"\n`;
  const answer = await send(`identity ${channelWord(script)}`);
  if (!answer.includes(IDENTITY_OK)) throw operationFailed(`could not give vm ${row.name} its own identity over the guest channel: ${lastLines(answer, 3) || 'no output'}`);
  if (!after) return undefined;
  const output = answer.slice(answer.indexOf(IDENTITY_OK) + IDENTITY_OK.length).replace(/^\n/, '');
  const failed = new RegExp(`^${AFTER_FAILED} (\\d+)$`, 'm').exec(output);
  return failed ? { code: Number(failed[1]), stderr: output.slice(0, failed.index) } : { code: 0, stderr: output };
}

/**
 * Puts a new host key in a running guest over the guest channel (no login: under TCG a login session,
 * and the user manager it starts, cost the guest seconds of CPU) and keeps it, pinned. False when the
 * channel did not take it; then nothing changed.
 */
export async function rekeyOverChannel(deps: Deps, row: VMRow, channel: (command: `identity ${string}`) => Promise<string>, signal?: AbortSignal): Promise<boolean> {
  const kp = await generateHostKey('banger-vm');
  const script = rekeyScript({ hostKey: kp, entropy: randomBytes(64) });
  try {
    if (!(await channel(`identity ${channelWord(script)}`)).includes(IDENTITY_OK)) return false;
  } catch {
    signal?.throwIfAborted();
    return false;
  }
  await keepHostKey(deps, row, kp);
  return true;
}

/**
 * Proves that a running VM's sshd serves its pinned key: a one-off shared connection that only
 * authenticates, ended afterwards. An sshd that keeps its keys in memory is made to reload them over
 * the VM's own connection first (proveHostKey).
 */
export async function proveRunningKey(deps: Deps, row: VMRow, signal?: AbortSignal): Promise<void> {
  const proof = proofTargetFor(deps, row);
  try {
    await proveHostKey(() => waitForSSH(proof, { timeoutMs: 60_000, intervalMs: 100, probe: false, ...(signal ? { signal } : {}) }), sshTargetFor(deps, row), row.name, signal);
  } finally {
    await endSharedConnection(proof);
  }
}

/**
 * Gives a running VM a new host key, pins it, proves sshd serves it, and keeps it for later boots. The
 * key goes over the guest channel when `channel` is given, else, or when the channel does not take it,
 * over the VM's pinned connection.
 */
export async function rekeyRunning(deps: Deps, row: VMRow, signal?: AbortSignal, channel?: (command: `identity ${string}`) => Promise<string>): Promise<void> {
  if (!channel || !(await rekeyOverChannel(deps, row, channel, signal))) {
    const kp = await generateHostKey('banger-vm');
    await runScript(sshTargetFor(deps, row), row.name, rekeyScript({ hostKey: kp, entropy: randomBytes(64) }), Date.now() + 300_000, signal);
    await keepHostKey(deps, row, kp);
  }
  await proveRunningKey(deps, row, signal);
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
