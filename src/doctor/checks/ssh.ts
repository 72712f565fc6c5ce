import type { DoctorCheck } from '../../api/types.js';
import { fail, firstLine, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';

export async function checkSsh(env: DoctorEnv): Promise<DoctorCheck> {
  const ssh = env.which('ssh');
  const keygen = env.which('ssh-keygen');
  const missing = [!ssh && 'ssh', !keygen && 'ssh-keygen'].filter((x): x is string => Boolean(x));
  if (missing.length) {
    return fail('ssh', [`${missing.join(' and ')} not found: banger reaches guests over SSH and makes their keys with ssh-keygen`], installCommand(['openssh-client'], env));
  }
  const out = await env.runTool(ssh!, ['-V']);
  const line = firstLine(out);
  return pass('ssh', `${line ? line.split(',')[0]! : 'ssh'}; ssh-keygen present`);
}
