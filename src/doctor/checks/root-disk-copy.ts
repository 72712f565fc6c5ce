/**
 * How firecracker VMs get their copy-on-write root (Firecracker opens raw disks only, no qcow2):
 * `cp --reflink=auto --sparse=always` clones the image in O(1) on filesystems with reflinks (btrfs,
 * xfs made with reflink=1, bcachefs) and falls back to a sparse copy elsewhere. Read-only: the
 * filesystem type of the state directory decides, as `stat -f` reports it.
 */
import { dirname } from 'node:path';
import type { DoctorCheck } from '../../api/types.js';
import { pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';

const REFLINK_FS = ['btrfs', 'xfs', 'bcachefs'];

export async function checkRootDiskCopy(env: DoctorEnv): Promise<DoctorCheck> {
  const name = 'root-disk-copy';
  let dir = env.layout.stateDir;
  while (!env.exists(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const stat = env.which('stat');
  if (!stat) return warn(name, ['stat not found: cannot tell how firecracker root disks are copied'], 'apt-get install coreutils');
  const out = await env.runTool(stat, ['-f', '-c', '%T', dir]);
  const fs = out.stdout.trim();
  if (out.code !== 0 || !fs) return warn(name, [`stat -f ${dir} failed: ${out.stderr.trim() || `exit ${out.code ?? '?'}`}`]);
  if (REFLINK_FS.includes(fs)) {
    return pass(name, `firecracker roots: reflink copies on ${fs} (${dir}), instant and sharing blocks with the image${fs === 'xfs' ? ' (xfs made without reflink=1 falls back to sparse copies)' : ''}`);
  }
  return pass(name, `firecracker roots: sparse copies on ${fs} (${dir}), which has no reflinks: each VM start reads the whole image once (qemu VMs use qcow2 overlays instead)`);
}
