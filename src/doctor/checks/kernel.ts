import type { DoctorCheck } from '../../api/types.js';
import { pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { compareVersions, parseVersion } from '../version.js';

/** Firecracker supports host kernels from 5.10 on; qemu is not picky. */
const FIRECRACKER_MIN_KERNEL: [number, number, number] = [5, 10, 0];

export function checkKernel(env: DoctorEnv): DoctorCheck {
  const v = parseVersion(env.release);
  if (!v) return warn('kernel', [`${env.release || 'unknown'}: could not read the host kernel version`]);
  if (compareVersions(v, FIRECRACKER_MIN_KERNEL) < 0) {
    return warn('kernel', [env.release, 'older than 5.10: firecracker does not support it; qemu works'], 'upgrade the host kernel to 5.10 or newer to use firecracker');
  }
  return pass('kernel', env.release);
}
