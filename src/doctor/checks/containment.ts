import type { DoctorCheck } from '../../api/types.js';
import { QEMU_SANDBOX, QEMU_SANDBOX_CONNECTOR, SANDBOX_PROBE_ARGS, SANDBOX_PROBE_INPUT, sandboxVerdict } from '../../system/qemu-sandbox.js';
import { pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';

const NAME = 'guest-containment';

/** Whether VMs' QEMU runs under its seccomp sandbox, and without capabilities when banger runs as root. */
export async function checkContainment(env: DoctorEnv): Promise<DoctorCheck> {
  const bin = env.which(env.bins.qemu);
  if (!bin) return pass(NAME, 'no QEMU to contain (see the qemu check)');
  const details: string[] = [];
  const problems: string[] = [];
  const verdict = sandboxVerdict(await env.runTool(bin, [...SANDBOX_PROBE_ARGS], { input: SANDBOX_PROBE_INPUT }));
  if (verdict.ok) {
    details.push(`every VM's QEMU runs under a seccomp sandbox: -sandbox ${QEMU_SANDBOX}`);
    details.push(`except that a user-mode VM whose slirp starts the egress connector (socat) allows privilege-changing calls, as slirp calls setsid before the connector runs (no_new_privs still holds): -sandbox ${QEMU_SANDBOX_CONNECTOR}`);
  } else problems.push(`QEMU has no usable seccomp sandbox: ${verdict.problem ?? 'unknown'}; VMs run without it`);
  if (env.uid !== 0) details.push('banger runs unprivileged, so QEMU holds no capabilities');
  else if (env.which('setpriv')) details.push('QEMU (and the egress connector it starts) runs through setpriv with CAP_NET_BIND_SERVICE alone (for its published ports), plus CAP_NET_ADMIN for a bridge-mode tap');
  else problems.push('setpriv (util-linux) is missing: QEMU started by root keeps root capabilities');
  if (problems.length === 0) return pass(NAME, ...details);
  return warn(NAME, [...problems, ...details], 'install a QEMU built with seccomp and util-linux (setpriv)');
}
