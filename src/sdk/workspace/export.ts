/**
 * Getting the guest's work back: a binary patch of everything in the guest's workspace that differs
 * from a base (committed, staged, unstaged and untracked non-ignored files alike), made with a
 * temporary index so the guest's own index is never touched. The base is the tree as prepared
 * (refs/banger/prepared) unless a commit is given (`--base-commit`, e.g. the host HEAD recorded at
 * prepare, which then also carries the host's uncommitted work that was copied in).
 *
 * @module
 */
import { BangerError } from '../../api/errors.js';
import type { WorkspaceInfo } from '../../api/types.js';
import { execBuffer, type Reach } from '../exec.js';

export type DiffFormat = 'patch' | 'stat' | 'names';

const UNKNOWN_BASE = 3;
const NO_REPO = 4;

const DIFF = `cd -- "$1" 2>/dev/null && [ -d .git ] || exit ${NO_REPO}
ref=$2; what=$3
git rev-parse -q --verify "$ref^{commit}" >/dev/null || exit ${UNKNOWN_BASE}
set -e
t=.git/banger-export-index.$$; trap 'rm -f "$t" "$t.lock"' EXIT
if [ -f .git/index ]; then cp .git/index "$t"; else git read-tree --index-output="$t" "$ref"; fi
export GIT_INDEX_FILE="$t"
git add -A
case $what in
  patch) git diff --cached --binary --full-index "$ref" ;;
  stat) git diff --cached --stat=120 --summary "$ref" ;;
  names) git diff --cached --name-only --no-renames -z "$ref" ;;
esac`;

export interface DiffOptions {
  /** Compare to this commit instead of the tree as prepared. */
  baseCommit?: string;
  signal?: AbortSignal;
}

/** The guest's changes in the workspace, as a patch, a stat, or NUL-separated paths. */
export async function workspaceDiff(target: Reach, ws: WorkspaceInfo, format: DiffFormat, opts: DiffOptions = {}): Promise<Buffer> {
  const base = opts.baseCommit ?? 'refs/banger/prepared';
  if (opts.baseCommit !== undefined && !/^[0-9a-fA-F]{4,64}$/.test(opts.baseCommit)) {
    throw new BangerError('bad_request', `--base-commit ${JSON.stringify(opts.baseCommit)} is not a commit id`, { hint: `use a commit id, e.g. the workspace's headCommit ${ws.headCommit.slice(0, 12)}` });
  }
  const r = await execBuffer(target, ['sh', '-c', DIFF, 'sh', ws.guestPath, base, format], opts.signal ? { signal: opts.signal } : {});
  if (r.exitCode === UNKNOWN_BASE) {
    throw new BangerError('not_found', `commit ${base} is not in the guest's repository at ${ws.guestPath} (vm ${target.vm})`, {
      hint: `omit --base-commit to compare with the tree as prepared, or use the recorded head commit ${ws.headCommit.slice(0, 12)}`,
    });
  }
  if (r.exitCode === NO_REPO) {
    throw new BangerError('not_found', `vm ${target.vm} has no git repository at ${ws.guestPath} any more`, { hint: `copy the checkout in again with banger vm workspace prepare ${target.vm} ${ws.sourcePath}` });
  }
  if (r.exitCode !== 0) {
    throw new BangerError('operation_failed', `reading the changes in vm ${target.vm} failed: ${r.stderr.toString('utf8').trim() || `exit status ${r.exitCode}`}`);
  }
  return r.stdout;
}
