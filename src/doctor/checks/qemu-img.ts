import type { DoctorCheck } from '../../api/types.js';
import { fail, firstLine, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';
import { formatVersion, parseVersion } from '../version.js';

export async function checkQemuImg(env: DoctorEnv): Promise<DoctorCheck> {
  const fix = installCommand(['qemu-img'], env);
  const path = env.which('qemu-img');
  if (!path) return fail('qemu-img', ['qemu-img not found: banger makes copy-on-write VM disks with it'], fix);
  const out = await env.runTool(path, ['--version']);
  const v = parseVersion(out.stdout, /version\s+/i);
  if (out.code !== 0 || !v) return fail('qemu-img', [`${path} --version failed: ${firstLine(out) || `exit ${out.code ?? 'by signal'}`}`], fix);
  return pass('qemu-img', `qemu-img ${formatVersion(v)}`);
}
