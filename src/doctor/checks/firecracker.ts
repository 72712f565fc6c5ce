import type { DoctorCheck } from '../../api/types.js';
import { fail, firstLine, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { compareVersions, formatVersion, parseVersion, type Version } from '../version.js';

/** The firecracker releases banger supports: 1.5.0 up to any 1.16.x. */
export const FIRECRACKER_MIN: Version = [1, 5, 0];
export const FIRECRACKER_MAX_MINOR: [number, number] = [1, 16];

const RELEASES = 'https://github.com/firecracker-microvm/firecracker/releases';

export async function checkFirecracker(env: DoctorEnv): Promise<DoctorCheck> {
  const bin = env.bins.firecracker;
  const path = env.which(bin);
  if (!path) {
    return warn(
      'firecracker',
      [`${bin} not found: VMs run on qemu (firecracker is optional)`],
      `to use firecracker, put a release binary (v1.5.0 to v1.16.x) on PATH: ${RELEASES}`,
    );
  }
  const out = await env.runTool(path, ['--version']);
  const v = parseVersion(out.stdout || out.stderr, /firecracker\s+v?/i) ?? parseVersion(out.stdout);
  if (out.code !== 0 || !v) {
    return fail('firecracker', [`${path} --version failed: ${firstLine(out) || `exit ${out.code ?? 'by signal'}`}`], `replace ${path} with a release binary from ${RELEASES}, or remove it to use qemu`);
  }
  const label = `firecracker ${formatVersion(v)} (${path})`;
  if (compareVersions(v, FIRECRACKER_MIN) < 0) {
    return fail('firecracker', [label, `older than ${formatVersion(FIRECRACKER_MIN)}, which banger needs`], `install v1.5.0 to v1.16.x from ${RELEASES}, or remove ${path} to use qemu`);
  }
  const [maj, min] = FIRECRACKER_MAX_MINOR;
  if (v[0] > maj || (v[0] === maj && v[1] > min)) {
    return warn('firecracker', [label, `newer than the releases banger was tested with (up to ${maj}.${min}.x)`], `if VMs misbehave, install v${maj}.${min}.x from ${RELEASES}`);
  }
  return pass('firecracker', label);
}
