/**
 * Applying the guest's patch to the host checkout it came from. A clean apply changes only the
 * working tree. When it does not apply cleanly: if the host has its own uncommitted changes in files
 * the patch touches, nothing is changed and the files are named; otherwise (the host committed more
 * since the prepare) a 3-way merge is tried, and only when it is known to succeed.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BangerError } from '../../api/errors.js';
import { diskEntry, git, gitOk, openHostRepo } from './host-repo.js';

export interface ApplyResult {
  /** Files the patch changed. */
  files: string[];
  /** How it went in: plainly, or by a 3-way merge (the result is then staged). */
  method: 'none' | 'apply' | '3way';
  hostPath: string;
}

/** Undoes git's C-style quoting of a path in a patch header ("a/with\\ttab"). */
function unquote(s: string): string {
  if (!s.startsWith('"')) return s;
  const bytes: number[] = [];
  const esc: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '"': 34, '\\': 92 };
  for (let i = 1; i < s.length - 1; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = s[++i]!;
    if (/[0-7]/.test(n)) {
      bytes.push(parseInt(s.slice(i, i + 3), 8));
      i += 2;
    } else bytes.push(esc[n] ?? n.charCodeAt(0));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** What each file of a patch expects to find before it applies: the old path and blob id (all zeros: nothing there). */
export function preimages(patch: Buffer): { path: string; id: string }[] {
  const out: { path: string; id: string }[] = [];
  let id: string | undefined;
  let from: string | undefined;
  let to: string | undefined;
  let header: string | undefined;
  let body = false;
  const flush = () => {
    const path = from ?? to ?? header;
    if (id !== undefined && path !== undefined) out.push({ path, id });
    id = from = to = header = undefined;
  };
  const name = (raw: string, prefix: string) => unquote(Buffer.from(raw.replace(/\t$/, ''), 'latin1').toString('utf8')).replace(prefix, '');
  for (const line of patch.toString('latin1').split('\n')) {
    if (line.startsWith('diff --git ')) {
      flush();
      body = false;
      // "a/P b/P" when the path is not renamed (binary patches have no ---/+++ lines to read it from).
      const rest = line.slice(11);
      const half = (rest.length - 5) / 2;
      if (!rest.startsWith('"') && Number.isInteger(half) && rest.slice(2, 2 + half) === rest.slice(5 + half)) header = name(rest.slice(2, 2 + half), '');
    } else if (body) continue;
    else if (line.startsWith('@@') || line === 'GIT binary patch') body = true;
    else if (line.startsWith('index ')) id = /^index ([0-9a-f]+)\.\./.exec(line)?.[1];
    else if (line.startsWith('--- ') && line !== '--- /dev/null') from = name(line.slice(4), 'a/');
    else if (line.startsWith('+++ ') && line !== '+++ /dev/null') to = name(line.slice(4), 'b/');
    else if (line.startsWith('rename from ')) from = name(line.slice(12), '');
  }
  flush();
  return out;
}

/** Paths with uncommitted changes in the host checkout (staged, unstaged or untracked), as `git status` lists them. */
async function locallyChanged(root: string): Promise<Set<string>> {
  const out = new Set<string>();
  const fields = (await gitOk(root, ['status', '--porcelain=v1', '-z', '--untracked-files=all'], 'git status')).split('\0');
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.length < 4) continue;
    out.add(f.slice(3));
    // A rename or copy is followed by its source path.
    if (f[0] === 'R' || f[0] === 'C') out.add(fields[++i] ?? '');
  }
  return out;
}

/**
 * Files the host changed, and has not committed, since the prepare: what the guest started from is not
 * on disk and `git status` lists them. (A file the host had already changed before the prepare and
 * left alone is no conflict; one the host changed and committed is left to the 3-way merge.)
 */
async function conflicts(root: string, patch: Buffer): Promise<string[]> {
  const out: string[] = [];
  let changed: Set<string> | undefined;
  for (const { path, id } of preimages(patch)) {
    const onDisk = diskEntry(root, path)?.id;
    const expected = /^0+$/.test(id) ? undefined : id;
    // Blob ids of another length (a sha256 repository) cannot be compared here: leave those to git apply.
    if (expected !== undefined && expected.length !== 40) continue;
    if (onDisk === expected) continue;
    changed ??= await locallyChanged(root);
    if (changed.has(path)) out.push(path);
  }
  return out;
}

export async function applyToHost(hostPath: string, patch: Buffer, touched: readonly string[], vm: string): Promise<ApplyResult> {
  const repo = await openHostRepo(hostPath);
  if (patch.length === 0) return { files: [], method: 'none', hostPath: repo.root };
  const dir = await mkdtemp(join(tmpdir(), 'banger-apply-'));
  try {
    const file = join(dir, 'workspace.patch');
    await writeFile(file, patch);
    const check = await git(repo.root, ['apply', '--check', file]);
    if (check.code === 0) {
      const r = await git(repo.root, ['apply', file]);
      if (r.code !== 0) throw new BangerError('operation_failed', `git apply failed in ${repo.root}: ${r.stderr.trim()}`);
      return { files: [...touched], method: 'apply', hostPath: repo.root };
    }
    const conflicting = await conflicts(repo.root, patch);
    if (conflicting.length > 0) {
      throw new BangerError('operation_failed', `the host checkout ${repo.root} has local changes to ${conflicting.length} file${conflicting.length === 1 ? '' : 's'} the guest also changed: ${conflicting.slice(0, 5).join(', ')}${conflicting.length > 5 ? ', ...' : ''}; nothing was applied`, {
        hint: `commit or stash them (git stash) and apply again, or save the patch with banger vm workspace export ${vm} --output FILE and merge it yourself`,
      });
    }
    const three = await git(repo.root, ['apply', '--3way', '--check', file]);
    if (three.code !== 0) {
      throw new BangerError('operation_failed', `the guest's changes do not apply to ${repo.root}, not even with a 3-way merge; nothing was applied: ${check.stderr.trim().split('\n').slice(0, 3).join('; ')}`, {
        hint: `save the patch with banger vm workspace export ${vm} --output FILE and merge it by hand`,
      });
    }
    const r = await git(repo.root, ['apply', '--3way', file]);
    if (r.code !== 0) throw new BangerError('operation_failed', `git apply --3way failed in ${repo.root}: ${r.stderr.trim()}`);
    return { files: [...touched], method: '3way', hostPath: repo.root };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
