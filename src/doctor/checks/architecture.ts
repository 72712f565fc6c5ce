import type { DoctorCheck } from '../../api/types.js';
import { fail, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';

export function checkArchitecture(env: DoctorEnv): DoctorCheck {
  if (env.machine === 'x86_64') return pass('architecture', 'x86_64');
  return fail(
    'architecture',
    [`${env.machine || 'unknown'}: banger runs x86_64 guests and needs an x86_64 (amd64) host`],
    'run banger on an x86_64 Linux host',
  );
}
