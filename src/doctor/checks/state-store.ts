import type { DoctorCheck } from '../../api/types.js';
import { inspectSchema } from '../../store/inspect.js';
import { fail, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';

export type SchemaInspector = typeof inspectSchema;

/**
 * Classifies the state store read-only, through store/inspect.ts: the doctor never migrates it, and
 * the answer does not need bangerd, since this row matters most when bangerd cannot start.
 */
export function checkStateStore(env: DoctorEnv, inspect: SchemaInspector = inspectSchema): DoctorCheck {
  const db = env.layout.dbPath;
  let s;
  try {
    s = inspect(db);
  } catch (err) {
    return fail(
      'state-store',
      [`${db} cannot be read: ${err instanceof Error ? err.message : String(err)}`],
      `move ${db} aside (banger starts a fresh store) or restore it from a backup`,
    );
  }
  switch (s.state) {
    case 'missing':
      return pass('state-store', `no store yet at ${db} (fresh install)`);
    case 'compatible':
      return pass('state-store', `${db} (schema ${s.latest})`);
    case 'migrations_needed': {
      const pending = s.latest > 0 ? `; pending up to ${s.latest}` : '';
      return warn(
        'state-store',
        [`${db} needs migrations (applied ${s.applied.join(',') || 'none'}${pending})`, 'bangerd applies them when it next starts'],
        'banger daemon stop (the next banger command starts the new daemon)',
      );
    }
    case 'incompatible':
      return fail(
        'state-store',
        [`${db} was written by a newer banger (migrations ${s.applied.join(',')}; this build knows up to ${s.latest})`],
        'install that newer banger again, or move the store aside to start fresh',
      );
  }
}
