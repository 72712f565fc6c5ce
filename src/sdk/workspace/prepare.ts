/**
 * `vm workspace prepare` / `vm run PATH`: copies a git checkout into a VM over its SSH connection.
 *
 * Where the work runs: on the client (CLI or SDK), not in the daemon. The checkout lives where the
 * user runs banger, and through a remote context that is another machine than the daemon's; the
 * client already reaches the guest's sshd (the same path `vm exec` takes), so it reads the repository
 * and streams it straight to the guest, and afterwards tells the daemon what it copied
 * (POST /vms/:name/workspace), which the daemon keeps on the VM in its store.
 *
 * What travels: a `git bundle` of the history (HEAD and the branch), fetched into the guest's
 * repository without a checkout, then a gzip'd tar of the working tree exactly as it is on the host
 * (tracked files, optionally the untracked non-ignored ones; modes, symlinks and odd names kept).
 * The guest's index is reset to HEAD, so `git status` and `git diff` there show the host's uncommitted
 * work, and a commit `refs/banger/prepared` records the tree as copied: export and diff compare to it.
 *
 * A second prepare of the same checkout sends only the difference: the guest keeps a manifest of
 * what was copied (.git/banger-manifest: mode, blob id and path of each file); the bundle then holds
 * only the commits the guest lacks, and the tar only the files whose content or mode changed, after
 * the removed ones are deleted. Files the guest changed itself and the host did not are left alone;
 * when the host's HEAD moved, the guest's branch is moved to it (the guest's own commits on it stay
 * reachable through the reflog only) and its index reset to it.
 *
 * @module
 */
import { PassThrough, type Readable } from 'node:stream';
import { BangerError, badRequest } from '../../api/errors.js';
import { checkGuestPath } from '../../api/requests.js';
import type { RecordWorkspaceRequest } from '../../api/types.js';
import { spawnPiped, type PipedChild } from '../../system/exec.js';
import { execBuffer, type Reach } from '../exec.js';
import { checkBranchName, git, gitOk, listWorkingTree, manifestText, openHostRepo, parseManifest, resolveCommit, type TreeEntry } from './host-repo.js';

export const DEFAULT_GUEST_PATH = '/root/repo';

export interface PrepareOptions {
  /** Where the checkout goes in the guest (default /root/repo). */
  guestPath?: string;
  /** Also copy untracked files that are not ignored. */
  includeUntracked?: boolean;
  /** Copy submodules' files (refused otherwise when the checkout has submodules). */
  submodules?: boolean;
  /** Make a guest-only branch of this name, checked out in the guest. */
  branch?: string;
  /** Where the guest-only branch starts (default HEAD); a commit other than HEAD is copied without the host's uncommitted work. */
  from?: string;
  /** Only list what would be copied; the guest is not touched. */
  dryRun?: boolean;
  /** Progress lines. */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface PrepareResult {
  /** What the daemon records on the VM (nothing is recorded on a dry run). */
  workspace: RecordWorkspaceRequest;
  /** Files in the copied tree. */
  files: number;
  /** Files sent this time (all of them on a first prepare). */
  sentFiles: number;
  /** Files deleted in the guest because they are gone on the host. */
  deletedFiles: number;
  /** Bytes of history and of the working tree sent over SSH (compressed). */
  bundleBytes: number;
  tarBytes: number;
  /** Whether only the difference to what the guest had was sent. */
  incremental: boolean;
  dryRun: boolean;
  /** The copied tree's paths, on a dry run. */
  paths?: string[];
}

const PROBE = `gp=$1
command -v git >/dev/null 2>&1 || { echo nogit; exit 0; }
m="$gp/.git/banger-manifest"
if [ -f "$m" ]; then
  h=$(head -c 200 "$m" | tr '\\0' '\\n' | head -n 1 | cut -d' ' -f3)
  if git -C "$gp" cat-file -e "$h^{commit}" 2>/dev/null && git -C "$gp" rev-parse -q --verify refs/banger/prepared >/dev/null; then echo workspace; cat "$m"; else echo stale; fi
elif [ -d "$gp" ] && [ -n "$(ls -A "$gp" 2>/dev/null)" ]; then echo occupied
else echo empty; fi`;

/** A first copy: an empty directory with a git repository (the guest's .git is kept when there is one). */
const SETUP = `set -e; gp=$1
mkdir -p -- "$gp"; cd -- "$gp"
find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf -- {} +
[ -d .git ] || git init -q
rm -f .git/banger-manifest`;

/**
 * A later copy: the files removed or changed on the host (NUL-separated) are deleted, then the
 * directories that left empty, as git does, so a file that became a directory or a symlink or the other
 * way round extracts cleanly; the list is kept for the finalize step. With $2 the list comes as base64
 * and the tar of the changed files follows on stdin, all in one round trip; without it (a list too long
 * for a command line) the list is stdin and the tar goes in a separate step.
 */
const UPDATE = `set -e; cd -- "$1"
if [ -n "$2" ]; then printf '%s' "$2" | base64 -d > .git/banger-changed; else cat > .git/banger-changed; fi
xargs -0 -r sh -c 'for p; do [ -d "$p" ] && [ ! -L "$p" ] || rm -f -- "$p"; done' sh < .git/banger-changed
xargs -0 -r sh -c 'for p; do while :; do
  if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p" 2>/dev/null || break; fi
  case $p in */*) p=\${p%/*} ;; *) break ;; esac
done; done' sh < .git/banger-changed
if [ -n "$2" ] && [ "$3" = 1 ]; then tar -xzf - --no-same-owner; fi`;

/** A changed-paths list up to this size (base64) rides on the command line; SSH's limit is far above it. */
const INLINE_LIST_MAX = 32 * 1024;

/** stdin: a git bundle. */
const FETCH = `set -e; cd -- "$1"; b=.git/banger-incoming.bundle; trap 'rm -f "$b"' EXIT
cat > "$b"
git fetch -q --no-tags "$b" '+HEAD:refs/banger/host-head' '+refs/*:refs/banger/bundle/*' 2>&1 || { echo "git fetch of the bundle failed" >&2; exit 1; }`;

const EXTRACT = 'set -e; cd -- "$1"; tar -xzf - --no-same-owner';

/** stdin: the manifest. Points HEAD, resets the index to it, records the copied tree as refs/banger/prepared. */
const FINALIZE = `set -e; cd -- "$1"; head=$2; hostBranch=$3; guestBranch=$4; base=$5; mode=$6; moved=$7
export GIT_LITERAL_PATHSPECS=1 GIT_AUTHOR_NAME=banger GIT_AUTHOR_EMAIL=banger@localhost GIT_COMMITTER_NAME=banger GIT_COMMITTER_EMAIL=banger@localhost
if [ "$moved" = 1 ]; then
  git update-ref refs/banger/host-head "$head"
  if [ -n "$guestBranch" ]; then git update-ref "refs/heads/$guestBranch" "$base"; git symbolic-ref HEAD "refs/heads/$guestBranch"
  elif [ -n "$hostBranch" ]; then git update-ref "refs/heads/$hostBranch" "$head"; git symbolic-ref HEAD "refs/heads/$hostBranch"
  else git update-ref --no-deref HEAD "$head"; fi
  git reset -q
fi
cat > .git/banger-manifest.new
t=.git/banger-index.$$; trap 'rm -f "$t" "$t.lock"' EXIT
if [ "$mode" = full ]; then
  cp .git/index "$t"; GIT_INDEX_FILE=$t git add -A
else
  git read-tree --index-output="$t" refs/banger/prepared
  if [ -s .git/banger-changed ]; then GIT_INDEX_FILE=$t git add -A -f --pathspec-from-file=.git/banger-changed --pathspec-file-nul; fi
  rm -f .git/banger-changed
fi
tree=$(GIT_INDEX_FILE=$t git write-tree)
c=$(git commit-tree "$tree" -p HEAD -m 'banger: the workspace as prepared')
git update-ref refs/banger/prepared "$c"
mv -f .git/banger-manifest.new .git/banger-manifest
# The host's git identity, so commits made in the guest carry the user's name.
[ -z "$8" ] || git config user.name "$8"
[ -z "$9" ] || git config user.email "$9"
if command -v mise >/dev/null 2>&1; then mise trust --quiet --all . >/dev/null 2>&1 || true; fi
echo "$c"`;

/** user.name and user.email as git resolves them in the checkout (empty when unset). */
async function gitIdentity(root: string): Promise<[string, string]> {
  const get = async (key: string) => (await git(root, ['config', '--get', key])).stdout.trim();
  return [await get('user.name'), await get('user.email')];
}

function guestFailure(vm: string, step: string, r: { stderr: Buffer; exitCode: number }): BangerError {
  const msg = r.stderr.toString('utf8').trim().split('\n').slice(-3).join('; ');
  return new BangerError('operation_failed', `workspace ${step} failed in vm ${vm}: ${msg || `exit status ${r.exitCode}`}`, {
    hint: `nothing was recorded; run the prepare again (it starts over), or look inside with banger vm ssh ${vm}`,
  });
}

/** A host process whose stdout is sent to the guest; rejects when it fails. */
function hostStream(argv: string[], cwd: string, input?: string): { out: Readable; bytes: () => number; done: Promise<void> } {
  const child: PipedChild = spawnPiped(argv, { cwd });
  let bytes = 0;
  let err = '';
  const out = new PassThrough();
  child.stdout.on('data', (c: Buffer) => (bytes += c.length));
  child.stdout.pipe(out);
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input ?? '');
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new BangerError('operation_failed', `${argv[0]} ${argv[1] ?? ''} failed: ${err.trim() || `exit status ${String(code)}`}`))));
  });
  done.catch(() => out.destroy());
  return { out, bytes: () => bytes, done };
}

async function guest(target: Reach, step: string, script: string, args: string[], stdin: Buffer | string | Readable | undefined, signal?: AbortSignal): Promise<Buffer> {
  const r = await execBuffer(target, ['sh', '-c', script, 'sh', ...args], { ...(stdin !== undefined ? { stdin } : {}), ...(signal ? { signal } : {}) });
  if (r.exitCode !== 0) throw guestFailure(target.vm, step, r);
  return r.stdout;
}

/** Copies the checkout at hostPath into the VM behind target (see the module doc). */
export async function prepareWorkspace(target: Reach | undefined, hostPath: string, opts: PrepareOptions = {}): Promise<PrepareResult> {
  const progress = opts.onProgress ?? (() => undefined);
  const guestPath = checkGuestPath(opts.guestPath ?? DEFAULT_GUEST_PATH, '--guest-path');
  if (opts.from !== undefined && opts.branch === undefined) throw badRequest('--from needs --branch', 'e.g. --branch agent --from main');
  const repo = await openHostRepo(hostPath);
  if (opts.branch !== undefined) await checkBranchName(repo.root, opts.branch);
  const base = opts.from !== undefined ? await resolveCommit(repo.root, opts.from, '--from') : repo.head;
  const includeUntracked = opts.includeUntracked ?? false;
  const fromOther = base !== repo.head;
  const signal = opts.signal;
  // What the guest has is asked while the checkout is listed; the probe only reads.
  const probing = !opts.dryRun && target ? guest(target, 'probe', PROBE, [guestPath], undefined, signal) : undefined;
  probing?.catch(() => undefined);
  const identity = gitIdentity(repo.root);
  identity.catch(() => undefined);

  let entries: TreeEntry[];
  if (fromOther) {
    entries = (await gitOk(repo.root, ['ls-tree', '-r', '-z', '--full-tree', base], 'git ls-tree'))
      .split('\0')
      .filter((r) => r !== '')
      .flatMap((rec) => {
        const tab = rec.indexOf('\t');
        const [mode = '', type = '', id = ''] = rec.slice(0, tab).split(' ');
        return type === 'blob' ? [{ path: rec.slice(tab + 1), mode, id }] : [];
      });
  } else {
    const listing = await listWorkingTree(repo.root, { includeUntracked, submodules: opts.submodules ?? false });
    if (listing.submodules.length > 0 && !opts.submodules) {
      throw badRequest(`${repo.root} has submodules (${listing.submodules.slice(0, 3).join(', ')}${listing.submodules.length > 3 ? ', ...' : ''})`, 'pass --submodules to copy their files too');
    }
    entries = listing.entries;
  }
  const workspace: RecordWorkspaceRequest = {
    sourcePath: repo.root,
    guestPath,
    headCommit: repo.head,
    preparedCommit: repo.head,
    includeUntracked,
    ...(opts.branch !== undefined ? { branch: opts.branch } : {}),
  };
  const result: PrepareResult = { workspace, files: entries.length, sentFiles: entries.length, deletedFiles: 0, bundleBytes: 0, tarBytes: 0, incremental: false, dryRun: !!opts.dryRun };
  if (opts.dryRun) return { ...result, paths: entries.map((e) => e.path) };
  if (!target || !probing) throw new Error('prepareWorkspace needs an SSH target unless dryRun');

  // What the guest has.
  const probe = (await probing).toString('utf8');
  const nl = probe.indexOf('\n');
  const status = (nl < 0 ? probe : probe.slice(0, nl)).trim();
  if (status === 'nogit') throw new BangerError('unavailable', `git is not installed in vm ${target.vm}`, { hint: 'use an image with git (the default debian-bookworm has it)' });
  if (status === 'occupied') {
    throw new BangerError('already_exists', `${guestPath} already exists in vm ${target.vm} and is not a banger workspace`, { hint: 'pick another --guest-path, or remove it in the guest first' });
  }
  const old = status === 'workspace' && !fromOther ? parseManifest(probe.slice(nl + 1)) : undefined;
  const incremental = old !== undefined && opts.branch === undefined;

  // The working-tree difference.
  let send = entries;
  let remove: string[] = [];
  if (incremental && old) {
    const now = new Set(entries.map((e) => e.path));
    send = entries.filter((e) => {
      const was = old.entries.get(e.path);
      return !was || was.id !== e.id || was.mode !== e.mode;
    });
    remove = [...old.entries.keys()].filter((p) => !now.has(p));
  }
  progress(incremental ? `updating ${guestPath} in ${target.vm}: ${send.length} changed, ${remove.length} removed` : `copying ${repo.root} to ${target.vm}:${guestPath}`);
  if (!incremental) await guest(target, 'setup', SETUP, [guestPath], undefined, signal);

  // History: everything on a first copy, then only the commits the guest lacks.
  let moved = !incremental;
  if (!incremental || old.head !== repo.head) {
    moved = true;
    let bundleRefs = ['HEAD'];
    if (fromOther) {
      const ancestor = await git(repo.root, ['merge-base', '--is-ancestor', base, repo.head]);
      if (ancestor.code !== 0) {
        const isRef = await git(repo.root, ['rev-parse', '--verify', '-q', '--symbolic-full-name', '--end-of-options', opts.from!]);
        if (isRef.code !== 0 || !isRef.stdout.trim().startsWith('refs/')) {
          throw badRequest(`--from ${opts.from!} is not reachable from HEAD`, 'give a branch or tag name for it, so its history can be sent');
        }
        bundleRefs = ['HEAD', isRef.stdout.trim()];
      }
    }
    let needBundle = true;
    if (incremental) {
      bundleRefs.push(`^${old.head}`);
      const count = await gitOk(repo.root, ['rev-list', '--count', 'HEAD', `^${old.head}`], 'git rev-list');
      needBundle = Number(count.trim()) > 0;
    }
    if (needBundle) {
      progress('sending the history (git bundle)');
      const b = hostStream(['git', '-C', repo.root, 'bundle', 'create', '-q', '-', ...bundleRefs], repo.root);
      await Promise.all([guest(target, 'history', FETCH, [guestPath], b.out, signal), b.done]);
      result.bundleBytes = b.bytes();
    }
  }

  // The working tree; a later copy deletes what went away or changed, in the same round trip when it can.
  const changed = [...remove, ...send.map((e) => e.path)];
  const listed = changed.map((p) => `${p}\0`).join('');
  const inline = Buffer.from(listed, 'utf8').toString('base64');
  const oneTrip = incremental && inline.length <= INLINE_LIST_MAX;
  if (incremental && (!oneTrip || send.length === 0)) await guest(target, 'update', UPDATE, [guestPath, '', '0'], listed, signal);
  if (send.length > 0) {
    progress(`sending ${send.length} file${send.length === 1 ? '' : 's'} (tar.gz)`);
    const tarArgv = fromOther
      ? ['git', '-C', repo.root, 'archive', '--format=tar.gz', base]
      : ['tar', '-czf', '-', '--owner=0', '--group=0', '--numeric-owner', '--no-recursion', '-C', repo.root, '--null', '-T', '-'];
    const t = hostStream(tarArgv, repo.root, fromOther ? undefined : send.map((e) => e.path).join('\0') + '\0');
    const extract = oneTrip ? guest(target, 'copy', UPDATE, [guestPath, inline, '1'], t.out, signal) : guest(target, 'copy', EXTRACT, [guestPath], t.out, signal);
    await Promise.all([extract, t.done]);
    result.tarBytes = t.bytes();
  }

  progress('recording the prepared tree');
  const out = await guest(target, 'finalize', FINALIZE, [guestPath, repo.head, moved ? (repo.branch ?? '') : '', opts.branch ?? '', base, incremental ? 'incremental' : 'full', moved ? '1' : '0', ...(await identity)], manifestText(repo.head, entries), signal);
  workspace.preparedCommit = out.toString('utf8').trim().split('\n').pop() ?? '';
  return { ...result, sentFiles: send.length, deletedFiles: remove.length, incremental };
}
