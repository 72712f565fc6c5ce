/**
 * A VM's workspace changes for the web UI: the script of model/workspace-diff.ts run over the daemon's
 * ssh connection to the guest (the CLI and SDK run the same script client-side). Reads only: the
 * script works on a temporary index in the guest and leaves the repository as it was.
 *
 * @module
 */
import { notFound } from '../../api/errors.js';
import type { SSHTarget, WorkspaceDiff, WorkspaceInfo } from '../../api/types.js';
import { exec as sshExec } from '../../drivers/ssh/client.js';
import { diffArgv, diffFailure, parseNumstat, PREPARED_REF, type DiffFormat } from '../../model/workspace-diff.js';

/** The most of a patch the page is given; the whole of it is `banger vm workspace export`. */
export const PATCH_VIEW_LIMIT = 1024 * 1024;
const TIMEOUT_MS = 60_000;

async function run(target: SSHTarget, ws: WorkspaceInfo, format: DiffFormat, limit?: number): Promise<string> {
  const r = await sshExec(target, diffArgv(ws.guestPath, PREPARED_REF, format, limit), { timeoutMs: TIMEOUT_MS, connectTimeoutS: 5, maxOutput: 64 * 1024 * 1024 });
  const failure = diffFailure(target.vm, ws, PREPARED_REF, r.code, r.stderr);
  if (failure) throw failure;
  return r.stdout;
}

/** The files the guest changed in its workspace since the prepare, and with `patch` the patch to read. */
export async function workspaceDiff(target: SSHTarget, ws: WorkspaceInfo | undefined, opts: { patch?: boolean } = {}): Promise<WorkspaceDiff> {
  if (!ws) throw notFound(`vm ${target.vm} has no workspace`, `copy a checkout in first: banger vm workspace prepare ${target.vm} PATH`);
  const files = parseNumstat(await run(target, ws, 'numstat'));
  const out: WorkspaceDiff = {
    vm: target.vm,
    guestPath: ws.guestPath,
    files,
    added: files.reduce((n, f) => n + f.added, 0),
    deleted: files.reduce((n, f) => n + f.deleted, 0),
  };
  if (opts.patch) {
    const text = await run(target, ws, 'view', PATCH_VIEW_LIMIT + 1);
    const truncated = Buffer.byteLength(text) > PATCH_VIEW_LIMIT;
    out.patch = truncated ? Buffer.from(text).subarray(0, PATCH_VIEW_LIMIT).toString('utf8') : text;
    out.truncated = truncated;
    out.patchLimit = PATCH_VIEW_LIMIT;
  }
  return out;
}
