/**
 * Getting the guest's work back: a binary patch of everything in the guest's workspace that differs
 * from a base, made in the guest by the script in model/workspace-diff.ts. The base is the tree as
 * prepared (refs/banger/prepared) unless a commit is given (`--base-commit`, e.g. the host HEAD
 * recorded at prepare, which then also carries the host's uncommitted work that was copied in).
 *
 * @module
 */
import type { WorkspaceInfo } from '../../api/types.js';
import { diffArgv, diffBase, diffFailure, type DiffFormat as GuestDiffFormat } from '../../model/workspace-diff.js';
import { execBuffer, type Reach } from '../exec.js';

export type DiffFormat = Extract<GuestDiffFormat, 'patch' | 'stat' | 'names'>;

export interface DiffOptions {
  /** Compare to this commit instead of the tree as prepared. */
  baseCommit?: string;
  signal?: AbortSignal;
}

/** The guest's changes in the workspace, as a patch, a stat, or NUL-separated paths. */
export async function workspaceDiff(target: Reach, ws: WorkspaceInfo, format: DiffFormat, opts: DiffOptions = {}): Promise<Buffer> {
  const base = diffBase(ws, opts.baseCommit);
  const r = await execBuffer(target, diffArgv(ws.guestPath, base, format), opts.signal ? { signal: opts.signal } : {});
  const failure = diffFailure(target.vm, ws, base, r.exitCode, r.stderr.toString('utf8'));
  if (failure) throw failure;
  return r.stdout;
}
