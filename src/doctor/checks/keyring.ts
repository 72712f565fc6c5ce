import type { DoctorCheck } from '../../api/types.js';
import { fail, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export function checkDebianKeyring(env: DoctorEnv): DoctorCheck {
  if (env.exists(DEBIAN_KEYRING)) return pass('debian-archive-keyring', DEBIAN_KEYRING);
  return fail(
    'debian-archive-keyring',
    [`${DEBIAN_KEYRING} is missing: the default image build verifies the Debian archive with it`],
    installCommand(['debian-archive-keyring'], env),
  );
}
