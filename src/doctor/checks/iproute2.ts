import type { DoctorCheck } from '../../api/types.js';
import { fail, firstLine, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';

export async function checkIproute2(env: DoctorEnv): Promise<DoctorCheck> {
  const fix = installCommand(['iproute2'], env);
  const path = env.which('ip');
  if (!path) return fail('iproute2', ['ip not found: banger sets up the bridge and taps with it'], fix);
  const out = await env.runTool(path, ['-V']);
  const m = /iproute2-(?:ss)?[\w.]+/.exec(out.stdout + out.stderr);
  return pass('iproute2', m ? m[0] : firstLine(out) || path);
}
