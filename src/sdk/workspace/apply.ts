/**
 * Applying the guest's patch to the host checkout it came from. A clean apply changes only the
 * working tree. When it does not apply cleanly: if the host has its own uncommitted changes in files
 * the patch touches, nothing is changed and the files are named; otherwise (the host moved on) a
 * 3-way merge is tried, and only when it is known to succeed.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BangerError } from '../../api/errors.js';
import { git, openHostRepo } from './host-repo.js';

export interface ApplyResult {
  /** Files the patch changed. */
  files: string[];
  /** How it went in: plainly, or by a 3-way merge (the result is then staged). */
  method: 'none' | 'apply' | '3way';
  hostPath: string;
}

/** Paths with uncommitted changes on the host (both sides of a rename). */
async function dirtyPaths(root: string): Promise<Set<string>> {
  const r = await git(root, ['status', '--porcelain=v1', '-z', '--untracked-files=all']);
  const out = new Set<string>();
  const recs = r.stdout.split('\0');
  for (let i = 0; i < recs.length; i++) {
    const rec = recs[i]!;
    if (rec.length < 4) continue;
    out.add(rec.slice(3));
    if (rec[0] === 'R' || rec[0] === 'C') out.add(recs[++i] ?? '');
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
    const dirty = await dirtyPaths(repo.root);
    const conflicting = touched.filter((p) => dirty.has(p));
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
