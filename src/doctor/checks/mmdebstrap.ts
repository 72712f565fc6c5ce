import type { DoctorCheck } from '../../api/types.js';
import { fail, firstLine, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';

export async function checkMmdebstrap(env: DoctorEnv): Promise<DoctorCheck> {
  const path = env.which('mmdebstrap');
  if (!path) {
    return fail('mmdebstrap', ['mmdebstrap not found: it builds the default image (debian-bookworm)'], installCommand(['mmdebstrap'], env));
  }
  const out = await env.runTool(path, ['--version']);
  return pass('mmdebstrap', firstLine(out) || path);
}
