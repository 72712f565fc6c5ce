/**
 * The host's git identity in every VM: user.name and user.email from the daemon user's global git
 * config are set in the guest's global config at every start, so a commit made anywhere in the VM
 * (not only in a workspace, which also gets the checkout's own identity) carries the user's name.
 * Best effort: no identity on the host, or no git in the guest, changes nothing; a failure is a warning.
 *
 * @module
 */
import { runUnchecked } from '../../system/exec.js';
import type { OpContext } from '../op-context.js';

export interface GitIdentity {
  name: string;
  email: string;
}

/**
 * $1 user.name, $2 user.email ('' leaves that one alone). git runs only for a value the guest's
 * ~/.gitconfig does not already hold as git writes it (a guest restored from a template usually does):
 * under TCG each git started costs a good share of a second on the way to a ready VM.
 */
const SET = `command -v git >/dev/null 2>&1 || exit 0
sec='' n='' e='' want_n="\tname = $1" want_e="\temail = $2"
if [ -f "$HOME/.gitconfig" ]; then
  while IFS= read -r l; do
    case "$l" in \\[*) sec=$l ;; esac
    [ "$sec" = '[user]' ] || continue
    [ "$l" != "$want_n" ] || n=1
    [ "$l" != "$want_e" ] || e=1
  done < "$HOME/.gitconfig"
fi
[ -z "$1" ] || [ -n "$n" ] || git config --global user.name "$1"
[ -z "$2" ] || [ -n "$e" ] || git config --global user.email "$2"`;

/** The host's global user.name and user.email; undefined when neither is set (or git is missing). */
export async function hostGitIdentity(env: NodeJS.ProcessEnv = process.env): Promise<GitIdentity | undefined> {
  const get = async (key: string) => {
    const r = await runUnchecked(['git', 'config', '--global', '--get', key], { env }).catch(() => undefined);
    return r?.code === 0 ? r.stdout.trim() : '';
  };
  const [name, email] = [await get('user.name'), await get('user.email')];
  return name === '' && email === '' ? undefined : { name, email };
}

/** The guest command that sets `id` as the guest's global git identity (run as the readiness check's command, or alone). */
export function gitIdentityCommand(id: GitIdentity): string[] {
  return ['sh', '-c', SET, 'sh', id.name, id.email];
}

/** Says so when the command did not set the identity; returns whether it did. */
export function reportGitIdentity(vm: string, r: { code: number; stderr: string }, ctx: OpContext): boolean {
  if (r.code === 0) return true;
  ctx.log(`${vm}: could not set the git identity in the guest: ${r.stderr.trim() || `exit status ${r.code}`}`, 'warn');
  return false;
}
