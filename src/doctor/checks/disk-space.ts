import type { DoctorCheck } from '../../api/types.js';
import { fail, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';

const GiB = 1024 ** 3;
export const DISK_WARN_BYTES = 10 * GiB;
export const DISK_FAIL_BYTES = 2 * GiB;

const gib = (n: number) => `${(n / GiB).toFixed(1)} GiB`;

export function checkDiskSpace(env: DoctorEnv): DoctorCheck {
  const dir = env.layout.stateDir;
  let space;
  try {
    space = env.freeSpace(dir);
  } catch (err) {
    return warn('disk-space', [`could not measure free space for ${dir}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const where = space.measured === dir ? dir : `${dir} (measured at ${space.measured})`;
  const line = `${gib(space.available)} free for ${where}`;
  const fix = `free space on that filesystem, or set BANGER_HOME to a directory on a larger one`;
  if (space.available < DISK_FAIL_BYTES) return fail('disk-space', [line, `images and VM disks need at least ${gib(DISK_FAIL_BYTES)}`], fix);
  if (space.available < DISK_WARN_BYTES) return warn('disk-space', [line, `less than ${gib(DISK_WARN_BYTES)}: a few images and VMs will fill it`], fix);
  return pass('disk-space', line);
}
