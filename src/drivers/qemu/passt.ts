/**
 * passt: the user-mode network of a VM with egress (`--nat`).
 *
 * Why passt and not QEMU's slirp for egress: slirp maps its gateway 10.0.2.2 to the host's 127.0.0.1,
 * and that mapping cannot be turned off while egress stays on, so every loopback-only service of the
 * host would be open to the guest. passt with `--no-map-gw` forwards the guest's connections out
 * through ordinary host sockets but never to the host's loopback. Without egress the VM keeps slirp
 * with `restrict=on` (no passt process at all), whose hostfwd rules can be changed live over QMP.
 *
 * The guest sees the same network as under slirp (10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3
 * forwarded to the host's first resolver). sshd and the VM's published ports are passt `-t` forwards
 * bound on the VM's own loopback address; passt cannot add forwards while it runs, so a port
 * published on a running VM with egress takes effect at its next start.
 *
 * passt runs in the foreground of its own session (banger tracks its pid in the run directory, a
 * stale one is found again by its `--socket` argument under the VM's directory) and is stopped once
 * its QEMU is gone. It keeps the daemon's user (`--runas`: as root it would otherwise switch to
 * nobody, which cannot reach the VM's private run directory) and still sandboxes itself (its own
 * namespaces, seccomp).
 *
 * @module
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { operationFailed, unavailable } from '../../api/errors.js';
import { runFiles } from '../../model/filenames.js';
import { spawnDetached, which } from '../../system/exec.js';
import { isAlive, listProcesses, readCmdline, signalProcess } from '../../system/proc.js';
import type { PortForward } from '../hypervisor.js';

export const PASST_BIN = 'passt';
export const PASST_FIX_HINT = 'install passt: apt-get install passt (or create the VM without --nat)';
/** The guest's side of the network, the same addresses slirp uses. */
export const GUEST_NET = { address: '10.0.2.15', prefix: 24, gateway: '10.0.2.2', dns: '10.0.2.3' } as const;

export interface PasstOptions {
  socket: string;
  hostAddr: string;
  sshHostPort: number;
  forwards: readonly PortForward[];
  uid: number;
  gid: number;
}

/** passt's argv (pure). */
export function passtArgv(bin: string, o: PasstOptions): string[] {
  const ports = [{ hostPort: o.sshHostPort, guestPort: 22 }, ...o.forwards];
  const argv = [bin, '--foreground', '--quiet', '--runas', `${o.uid}:${o.gid}`, '--socket', o.socket, '--no-map-gw'];
  argv.push('--address', GUEST_NET.address, '--netmask', String(GUEST_NET.prefix), '--gateway', GUEST_NET.gateway);
  argv.push('--dns-forward', GUEST_NET.dns, '--udp-ports', 'none');
  for (const f of ports) argv.push('--tcp-ports', `${o.hostAddr}/${f.hostPort}:${f.guestPort}`);
  return argv;
}

/** True when `argv` is a passt serving `socket`. */
function servesSocket(argv: readonly string[] | undefined, socket: string): boolean {
  if (!argv || !/(^|\/)passt/.test(argv[0] ?? '')) return false;
  const i = argv.indexOf('--socket');
  return i >= 0 && argv[i + 1] === socket;
}

/** Live passt processes whose socket lies under `prefix` (a VMs directory ending in '/'), with that socket. */
export function passtProcesses(prefix: string): { pid: number; socket: string }[] {
  const out: { pid: number; socket: string }[] = [];
  for (const { pid, argv } of listProcesses()) {
    if (!/(^|\/)passt/.test(argv[0] ?? '')) continue;
    const socket = argv[argv.indexOf('--socket') + 1];
    if (argv.includes('--socket') && socket?.startsWith(prefix)) out.push({ pid, socket });
  }
  return out;
}

/** Starts passt for a VM and waits until its socket exists; throws with passt's own words otherwise. */
export async function startPasst(runDir: string, o: Omit<PasstOptions, 'socket' | 'uid' | 'gid'>, opts: { bin?: string; timeoutMs?: number; logFile?: string } = {}): Promise<number> {
  const bin = which(opts.bin ?? PASST_BIN);
  if (!bin) throw unavailable('passt is not installed; a VM with --nat needs it for its network', PASST_FIX_HINT);
  const files = runFiles(runDir);
  await stopPasst(runDir);
  const argv = passtArgv(bin, { ...o, socket: files.passtSocket, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  const pid = spawnDetached(argv, opts.logFile ? { logFile: opts.logFile } : {});
  writeFileSync(files.passtPidFile, `${pid}\n`, { mode: 0o600 });
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  while (Date.now() < deadline) {
    if (!isAlive(pid)) break;
    if (socketReady(files.passtSocket)) return pid;
    await sleep(20);
  }
  await stopPasst(runDir);
  const taken = o.forwards.length > 0 ? ` (is one of host ports ${[o.sshHostPort, ...o.forwards.map((f) => f.hostPort)].join(', ')} on ${o.hostAddr} taken?)` : '';
  throw operationFailed(`passt did not start for the VM's network${taken}`);
}

function socketReady(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch (err) {
    // A unix socket cannot be read as a file: ENXIO (or EOPNOTSUPP) says it is there.
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENXIO' || code === 'EOPNOTSUPP';
  }
}

/** Stops the VM's passt, if one runs (found by its pid file, checked against its socket), and removes its files. */
export async function stopPasst(runDir: string): Promise<void> {
  const files = runFiles(runDir);
  let pid: number | undefined;
  try {
    pid = Number.parseInt(readFileSync(files.passtPidFile, 'utf8').trim(), 10);
  } catch {
    pid = undefined;
  }
  if (pid !== undefined && Number.isSafeInteger(pid) && pid > 1 && servesSocket(readCmdline(pid), files.passtSocket)) {
    signalProcess(pid, 'SIGTERM');
    for (let i = 0; i < 100 && isAlive(pid) && servesSocket(readCmdline(pid), files.passtSocket); i++) await sleep(20);
    if (isAlive(pid) && servesSocket(readCmdline(pid), files.passtSocket)) signalProcess(pid, 'SIGKILL');
  }
  rmSync(files.passtPidFile, { force: true });
  rmSync(files.passtSocket, { force: true });
}
