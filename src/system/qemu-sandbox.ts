/**
 * QEMU's seccomp sandbox as banger uses it: the -sandbox value, and a probe that tells whether a QEMU
 * build accepts it (a machine-less QEMU started under it and told to quit over QMP on stdin). Shared by
 * the QEMU driver, which adds it to every VM it starts, and `banger doctor`, which reports it. The probe
 * uses the strict value; the connector's differs only in allowing what QEMU allows by default.
 */

/**
 * Obsolete system calls, privilege changes (setuid, setsid, ...) and resource control (scheduler,
 * affinity) are refused. Spawning stays allowed: snapshots save and load a VM's memory through QEMU's
 * `exec:` migration (QEMU 7.2 has no `file:` URI); what it spawns cannot gain privileges (the filter
 * comes with no_new_privs, and is inherited).
 */
export const QEMU_SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=allow,resourcecontrol=deny';

/**
 * The sandbox of a user-mode VM whose slirp starts the egress connector (socat) per guest connection:
 * slirp's child calls setsid() before it runs the connector, which `elevateprivileges=deny` (and
 * `=children`) refuse, so privilege-changing calls are allowed here. They gain nothing: no_new_privs
 * still holds (set with the filter), and QEMU started by root holds no CAP_SETUID, CAP_SETGID or
 * CAP_SYS_ADMIN (contain.ts), so setuid and the like can only move between ids it already has.
 */
export const QEMU_SANDBOX_CONNECTOR = 'on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=deny';

/** The -sandbox value for a VM, by whether its slirp starts the egress connector. */
export function sandboxFor(opts: { connector: boolean }): string {
  return opts.connector ? QEMU_SANDBOX_CONNECTOR : QEMU_SANDBOX;
}

/** The arguments of the probe: QEMU with no machine, paused, its monitor on stdio. */
export const SANDBOX_PROBE_ARGS: readonly string[] = ['-sandbox', QEMU_SANDBOX, '-machine', 'none', '-nodefaults', '-no-user-config', '-display', 'none', '-S', '-qmp', 'stdio'];

/** What the probe writes to the monitor: quit at once. */
export const SANDBOX_PROBE_INPUT = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n';

/** The verdict from the probe's exit status and error output. */
export function sandboxVerdict(r: { code: number | null; stderr: string; timedOut?: boolean }): { ok: boolean; problem?: string } {
  if (r.code === 0) return { ok: true };
  const said = r.stderr.trim().split('\n').pop() ?? '';
  return { ok: false, problem: said || (r.timedOut ? 'the probe timed out' : `the probe exited ${String(r.code ?? 'by signal')}`) };
}
