/**
 * Reading a workspace's changes in the guest: the script run there (over ssh, by the SDK client-side
 * and by the daemon for the web UI), its exit statuses, and what its output means. Everything in the
 * guest's workspace that differs from a base counts (committed, staged, unstaged and untracked
 * non-ignored files alike); a temporary index is used so the guest's own index is never touched. The
 * base is the tree as prepared (refs/banger/prepared) unless a commit is given.
 *
 * @module
 */
import { BangerError } from '../api/errors.js';
import type { WorkspaceDiffFile, WorkspaceInfo } from '../api/types.js';

/**
 * patch: binary patch for `git apply`; stat: diffstat with summary; names: NUL-separated paths;
 * numstat: NUL-separated `git diff --numstat -z`; view: a patch for reading (binary files named, not
 * encoded), cut after the byte limit given as the script's fourth argument.
 */
export type DiffFormat = 'patch' | 'stat' | 'names' | 'numstat' | 'view';

/** The tree as prepared, recorded in the guest's repository at prepare. */
export const PREPARED_REF = 'refs/banger/prepared';

const UNKNOWN_BASE = 3;
const NO_REPO = 4;

const SCRIPT = `cd -- "$1" 2>/dev/null && [ -d .git ] || exit ${NO_REPO}
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
  numstat) git diff --cached --numstat -z "$ref" ;;
  view) git diff --cached "$ref" | head -c "$4" ;;
esac`;

/** The argv run in the guest for one format; `limit` (bytes) only for `view`. Pure. */
export function diffArgv(guestPath: string, base: string, format: DiffFormat, limit?: number): string[] {
  const argv = ['sh', '-c', SCRIPT, 'sh', guestPath, base, format];
  if (format === 'view') argv.push(String(Math.max(1, Math.floor(limit ?? 1024 * 1024))));
  return argv;
}

/** The base to compare with: a commit id the caller gave (checked), or the tree as prepared. */
export function diffBase(ws: WorkspaceInfo, baseCommit: string | undefined): string {
  if (baseCommit === undefined) return PREPARED_REF;
  if (!/^[0-9a-fA-F]{4,64}$/.test(baseCommit)) {
    throw new BangerError('bad_request', `--base-commit ${JSON.stringify(baseCommit)} is not a commit id`, { hint: `use a commit id, e.g. the workspace's headCommit ${ws.headCommit.slice(0, 12)}` });
  }
  return baseCommit;
}

/** The error for the script's exit status, or undefined when it succeeded. */
export function diffFailure(vm: string, ws: WorkspaceInfo, base: string, exitCode: number, stderr: string): BangerError | undefined {
  if (exitCode === 0) return undefined;
  if (exitCode === UNKNOWN_BASE) {
    return new BangerError('not_found', `commit ${base} is not in the guest's repository at ${ws.guestPath} (vm ${vm})`, {
      hint: `omit --base-commit to compare with the tree as prepared, or use the recorded head commit ${ws.headCommit.slice(0, 12)}`,
    });
  }
  if (exitCode === NO_REPO) {
    return new BangerError('not_found', `vm ${vm} has no git repository at ${ws.guestPath} any more`, { hint: `copy the checkout in again with banger vm workspace prepare ${vm} ${ws.sourcePath}` });
  }
  return new BangerError('operation_failed', `reading the changes in vm ${vm} failed: ${stderr.trim() || `exit status ${exitCode}`}`);
}

/**
 * The files of `git diff --numstat -z` output: `ADDED\tDELETED\tPATH\0`, or for a rename
 * `ADDED\tDELETED\t\0FROM\0TO\0`; binary files count `-`. Pure.
 */
export function parseNumstat(text: string): WorkspaceDiffFile[] {
  const parts = text.split('\0');
  const out: WorkspaceDiffFile[] = [];
  for (let i = 0; i < parts.length; i++) {
    const m = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(parts[i]!.replace(/^\n/, ''));
    if (!m) continue;
    const binary = m[1] === '-';
    const counts = { added: binary ? 0 : Number(m[1]), deleted: binary ? 0 : Number(m[2]) };
    if (m[3] !== '') {
      out.push({ path: m[3]!, ...counts, ...(binary ? { binary } : {}) });
      continue;
    }
    const from = parts[i + 1];
    const to = parts[i + 2];
    if (from === undefined || to === undefined) break;
    out.push({ path: to, from, ...counts, ...(binary ? { binary } : {}) });
    i += 2;
  }
  return out;
}
