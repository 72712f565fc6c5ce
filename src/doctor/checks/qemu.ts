import type { DoctorCheck } from '../../api/types.js';
import { fail, firstLine, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';
import { formatVersion, parseVersion } from '../version.js';

export async function checkQemu(env: DoctorEnv): Promise<DoctorCheck> {
  const bin = env.bins.qemu;
  const path = env.which(bin);
  const fix = installCommand(['qemu'], env);
  if (!path) return fail('qemu', [`${bin} not found on PATH: banger needs it to run VMs`], fix);
  const out = await env.runTool(path, ['--version']);
  const v = parseVersion(out.stdout, /version\s+/i);
  if (out.code !== 0 || !v) return fail('qemu', [`${path} --version failed: ${firstLine(out) || `exit ${out.code ?? 'by signal'}`}`], fix);
  return pass('qemu', `QEMU ${formatVersion(v)} (${path})`);
}
