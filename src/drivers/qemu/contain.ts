/**
 * What a VM's QEMU process may do on the host, beyond emulating the guest.
 *
 * - seccomp (`-sandbox`, see system/qemu-sandbox.ts), when the QEMU build has it (probed once per binary).
 * - capabilities: when the daemon runs as root, QEMU starts through `setpriv` with empty bounding,
 *   inheritable and ambient sets and no_new_privs: it keeps CAP_NET_BIND_SERVICE alone (its published
 *   ports bind on the VM's loopback address, port 22 among them), and CAP_NET_ADMIN in bridge mode
 *   (attaching to its tap). It still runs as root's uid, so files
 *   root owns stay reachable by owner permission; everything else (other users' files, devices behind
 *   DAC, network and mount administration) is not. A separate uid would also need every disk, kernel
 *   and socket handed over to it; that belongs to the least-privilege system mode, not built yet.
 *
 * QEMU writes only the files of its own VM: the disks it is given, the console log and the run
 * directory (control socket, pid file).
 *
 * @module
 */
import { runUnchecked, which } from '../../system/exec.js';
import { QEMU_SANDBOX, SANDBOX_PROBE_ARGS, SANDBOX_PROBE_INPUT, sandboxVerdict } from '../../system/qemu-sandbox.js';

export interface Containment {
  /** The -sandbox value in use, or undefined when this QEMU has no seccomp support. */
  sandbox?: string;
  /** Why not, when it has none. */
  sandboxProblem?: string;
  /** Whether QEMU starts through setpriv without capabilities (the daemon is root and setpriv is there). */
  dropCaps: boolean;
  /** What happens to capabilities, in words. */
  capsNote: string;
}

const probes = new Map<string, Promise<{ ok: boolean; problem?: string }>>();

/** Whether `bin` starts under QEMU_SANDBOX; the answer is kept per binary for the life of the process. */
export function probeSandbox(bin: string): Promise<{ ok: boolean; problem?: string }> {
  let p = probes.get(bin);
  if (!p) {
    p = runUnchecked([bin, ...SANDBOX_PROBE_ARGS], { input: SANDBOX_PROBE_INPUT, timeoutMs: 15_000, maxOutput: 64 * 1024 })
      .then(sandboxVerdict)
      .catch((err: unknown) => ({ ok: false, problem: (err as Error).message }));
    probes.set(bin, p);
  }
  return p;
}

export const SETPRIV_BIN = 'setpriv';

/**
 * The sandbox of a VM whose slirp starts a connector (socat) per guest connection for egress: the
 * child setup may change its session, so privilege-changing calls are not refused outright;
 * `elevateprivileges=children` still sets no_new_privs, so the connector gains nothing.
 */
export function sandboxWithConnector(sandbox: string): string {
  return sandbox.replace('elevateprivileges=deny', 'elevateprivileges=children');
}

/** How the next QEMU of `bin` is contained on this host. */
export async function containment(bin: string): Promise<Containment> {
  const sb = await probeSandbox(bin);
  const out: Containment = sb.ok ? { sandbox: QEMU_SANDBOX, dropCaps: false, capsNote: '' } : { sandboxProblem: sb.problem, dropCaps: false, capsNote: '' };
  if (process.geteuid?.() !== 0) out.capsNote = 'the daemon holds no capabilities to drop (not root)';
  else if (!which(SETPRIV_BIN)) out.capsNote = 'setpriv (util-linux) is missing, so QEMU keeps root capabilities';
  else {
    out.dropCaps = true;
    out.capsNote = 'QEMU runs with CAP_NET_BIND_SERVICE alone (and CAP_NET_ADMIN for a bridge-mode tap)';
  }
  return out;
}

/** The argv that starts QEMU under the containment: setpriv in front when capabilities are dropped. */
export function containedArgv(qemuArgv: readonly string[], c: Containment, opts: { tap: boolean }): string[] {
  if (!c.dropCaps) return [...qemuArgv];
  // Binding a published port below 1024 (the guest's sshd on its own loopback address takes 22) needs
  // CAP_NET_BIND_SERVICE; attaching to a bridge-mode tap needs CAP_NET_ADMIN.
  const keep = `,+net_bind_service${opts.tap ? ',+net_admin' : ''}`;
  return [
    SETPRIV_BIN,
    `--bounding-set=-all${keep}`,
    '--inh-caps=-all',
    '--ambient-caps=-all',
    '--no-new-privs',
    '--',
    ...qemuArgv,
  ];
}
