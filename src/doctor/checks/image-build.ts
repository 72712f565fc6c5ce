/**
 * Whether `image build` can run as the user bangerd runs as: as root it uses mmdebstrap --mode=root;
 * otherwise mmdebstrap --mode=unshare, which needs that user's subordinate id ranges, newuidmap and
 * newgidmap, and user namespaces.
 */
import type { DoctorCheck } from '../../api/types.js';
import { statusNoNewPrivs, usernsReadiness } from '../../system/subids.js';
import { UNIT_PATH, unitSettings } from '../../system/systemd.js';
import { userOfUid } from '../../system/users.js';
import { daemonPing, fail, pass } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';

const NAME = 'image-build';

export async function checkImageBuild(env: DoctorEnv): Promise<DoctorCheck> {
  const ping = await daemonPing(env);
  const uid = ping?.uid ?? env.uid;
  const who = ping ? 'bangerd runs' : 'bangerd would run';
  if (uid === 0) return pass(NAME, `${who} as root: image build installs with mmdebstrap --mode=root`);
  const name = userOfUid(env.readText?.('/etc/passwd') ?? '', uid)?.name;
  if (!name) return fail(NAME, [`${who} as uid ${uid}, which has no name in /etc/passwd: mmdebstrap --mode=unshare looks the user up by name in /etc/subuid`]);
  // A running daemon says for itself; otherwise the system unit that would start it as this user.
  let noNewPrivs = false;
  if (ping) noNewPrivs = statusNoNewPrivs(env.readText?.(`/proc/${ping.pid}/status`));
  else {
    const unit = env.exists(UNIT_PATH) ? env.readText?.(UNIT_PATH) : undefined;
    const settings = unit === undefined ? undefined : unitSettings(unit);
    noNewPrivs = settings?.get('User') === name && settings.get('NoNewPrivileges') === 'yes';
  }
  const r = usernsReadiness(
    { name },
    {
      subuid: env.readText?.('/etc/subuid'),
      subgid: env.readText?.('/etc/subgid'),
      which: (cmd) => env.which(cmd),
      sysctl: (key) => env.readText?.(`/proc/sys/${key}`)?.trim(),
      noNewPrivs,
    },
  );
  const head = `${who} as ${name} (not root): image build installs with mmdebstrap --mode=unshare and streams the tree into the ext4 importer`;
  if (r.ready) return pass(NAME, head, ...r.details);
  const hints = r.hints.map((h) => (h === 'sudo apt-get install uidmap' ? installCommand(['uidmap'], env) : h));
  return fail(NAME, [head, ...r.problems, ...r.details], hints.join('; '));
}
