/**
 * What a VM's QEMU process may do on the host, beyond emulating the guest.
 *
 * - seccomp (`-sandbox`, see system/qemu-sandbox.ts), when the QEMU build has it (probed once per binary);
 *   a user-mode VM whose slirp starts the egress connector gets the set that lets slirp's child change
 *   its session. The filter sets no_new_privs, and the connector inherits filter and capabilities.
 * - capabilities: when the daemon runs as root, QEMU starts through `setpriv` with empty bounding,
 *   inheritable and ambient sets and no_new_privs: it keeps CAP_NET_BIND_SERVICE alone (its published
 *   ports bind on the VM's loopback address, port 22 among them), and CAP_NET_ADMIN in bridge mode
 *   (attaching to its tap). It still runs as root's uid, so files
 *   root owns stay reachable by owner permission; everything else (other users' files, devices behind
 *   DAC, network and mount administration) is not. A separate uid would also need every disk, kernel
 *   and socket handed over to it; that belongs to the least-privilege system mode, not built yet.
 *
 * QEMU writes only the files of its own VM: the disks it is given, the console log and the run
 * directory (control socket, pid file, the guest's RAM file). A restore opens its snapshot's RAM image
 * read-write, as QEMU 7.2 does for any RAM file, but maps it privately and never writes it.
 *
 * @module
 */
import { runUnchecked, which } from '../../system/exec.js';
import { SANDBOX_PROBE_ARGS, SANDBOX_PROBE_INPUT, sandboxFor, sandboxVerdict } from '../../system/qemu-sandbox.js';

export interface Containment {
  /** The -sandbox value in use, or undefined when this QEMU has no seccomp support. */
  sandbox?: string;
  /** Whether QEMU starts through setpriv without capabilities (the daemon is root and setpriv is there). */
  dropCaps: boolean;
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
 * How the next QEMU of `bin` is contained on this host: `connector` when its slirp starts the egress
 * connector (see sandboxFor).
 */
export async function containment(bin: string, opts: { connector: boolean }): Promise<Containment> {
  const sb = await probeSandbox(bin);
  return {
    ...(sb.ok ? { sandbox: sandboxFor(opts) } : {}),
    dropCaps: process.geteuid?.() === 0 && which(SETPRIV_BIN) !== undefined,
  };
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
