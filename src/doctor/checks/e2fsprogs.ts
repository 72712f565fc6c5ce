import type { DoctorCheck } from '../../api/types.js';
import { fail, firstLine, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';
import { compareVersions, formatVersion, parseVersion, type Version } from '../version.js';

/** `mkfs.ext4 -d` (build a filesystem from a directory) appeared in 1.43. */
export const E2FSPROGS_MIN: Version = [1, 43, 0];

export async function checkE2fsprogs(env: DoctorEnv): Promise<DoctorCheck> {
  const fix = installCommand(['e2fsprogs'], env);
  const mkfs = env.which('mkfs.ext4');
  const debugfs = env.which('debugfs');
  const missing = [!mkfs && 'mkfs.ext4', !debugfs && 'debugfs'].filter((x): x is string => Boolean(x));
  if (missing.length) return fail('e2fsprogs', [`${missing.join(' and ')} not found: banger builds and edits ext4 images with them`], fix);
  const out = await env.runTool(mkfs!, ['-V']);
  const text = `${out.stdout}\n${out.stderr}`;
  const v = parseVersion(text, /mke2fs\s+/) ?? parseVersion(text);
  if (!v) return fail('e2fsprogs', [`could not read the version from ${mkfs} -V: ${firstLine(out) || `exit ${out.code ?? 'by signal'}`}`], fix);
  if (compareVersions(v, E2FSPROGS_MIN) < 0) {
    return fail('e2fsprogs', [`e2fsprogs ${formatVersion(v)} is older than ${formatVersion(E2FSPROGS_MIN)}: mkfs.ext4 -d is missing`], `upgrade e2fsprogs to 1.43 or newer (${fix})`);
  }
  return pass('e2fsprogs', `e2fsprogs ${formatVersion(v)}; mkfs.ext4 and debugfs present`);
}
