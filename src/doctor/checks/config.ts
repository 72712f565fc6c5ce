import type { DoctorCheck } from '../../api/types.js';
import { BangerError } from '../../api/errors.js';
import { loadConfig } from '../../config/load.js';
import { fail, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';

export function checkConfig(env: DoctorEnv): DoctorCheck {
  const file = env.layout.configFile;
  try {
    const loaded = loadConfig(file, env.env);
    const fromEnv = Object.entries(loaded.sources).filter(([, src]) => src === 'env').map(([k]) => k);
    const details = [loaded.file ? `${file} is valid` : `no config file at ${file} (defaults in use)`];
    if (fromEnv.length) details.push(`set from the environment: ${fromEnv.join(', ')}`);
    return pass('config', ...details);
  } catch (err) {
    if (err instanceof BangerError) return fail('config', [err.message], err.hint ?? `fix ${file}`);
    return fail('config', [`${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`], `make ${file} readable, or move it aside to use defaults`);
  }
}
