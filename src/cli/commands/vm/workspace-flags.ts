/** The flags `vm workspace prepare` and `vm run PATH` share, and what the CLI prints after a prepare. */
import type { Command } from 'commander';
import type { CliContext } from '../../context.js';
import { printJson } from '../../render.js';
import type { PrepareOptions, PreparedWorkspace } from '../../../sdk/index.js';

export interface WorkspaceFlags {
  guestPath?: string;
  includeUntracked?: boolean;
  submodules?: boolean;
  branch?: string;
  /** `vm workspace prepare --from`. */
  from?: string;
  /** `vm run --branch-from` (on `vm run`, `--from` names a snapshot to restore). */
  branchFrom?: string;
  dryRun?: boolean;
}

/** Where the base ref of `--branch` is given: `--from` on `vm workspace prepare`, `--branch-from` on `vm run`. */
export type BranchFromFlag = '--from' | '--branch-from';

export function addWorkspaceFlags(cmd: Command, fromFlag: BranchFromFlag = '--from'): Command {
  return cmd
    .option('--guest-path <dir>', 'where the checkout goes in the guest (default /root/repo)')
    .option('--include-untracked', 'also copy untracked files that are not ignored (default: tracked files only)')
    .option('--submodules', "copy submodules' files too (a checkout with submodules is refused without it)")
    .option('--branch <name>', 'make a guest-only branch of this name and check it out in the guest')
    .option(`${fromFlag} <ref>`, 'where --branch starts (default HEAD); another commit is copied without the uncommitted work')
    .option('--dry-run', 'list the files that would be copied, and change nothing');
}

export function prepareOptions(o: WorkspaceFlags, ctx: CliContext): PrepareOptions {
  return {
    ...(o.guestPath !== undefined ? { guestPath: o.guestPath } : {}),
    ...(o.includeUntracked ? { includeUntracked: true } : {}),
    ...(o.submodules ? { submodules: true } : {}),
    ...(o.branch !== undefined ? { branch: o.branch } : {}),
    ...(o.branchFrom !== undefined ? { from: o.branchFrom } : o.from !== undefined ? { from: o.from } : {}),
    ...(o.dryRun ? { dryRun: true } : {}),
    onProgress: (line) => {
      if (!ctx.globals.json) ctx.note(ctx.err.dim(line));
    },
    signal: ctx.interrupt.signal,
  };
}

const mib = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

/** A dry run's file list (stdout), or one summary line (stderr); --json prints the result. */
export function reportPrepare(ctx: CliContext, vm: string, r: PreparedWorkspace): void {
  if (ctx.globals.json) return printJson(ctx.io, r);
  if (r.dryRun) {
    for (const p of r.paths ?? []) ctx.io.stdout.write(`${p}\n`);
    ctx.note(`${r.files} file${r.files === 1 ? '' : 's'} would be copied from ${r.workspace.sourcePath} to ${r.workspace.guestPath} (dry run: nothing was sent)`);
    return;
  }
  const what = r.incremental ? `${r.sentFiles} changed, ${r.deletedFiles} removed of ${r.files} files` : `${r.files} files`;
  ctx.note(`${vm}:${r.workspace.guestPath} ready (${what}; ${mib(r.bundleBytes + r.tarBytes)} sent; base ${r.workspace.headCommit.slice(0, 12)})`);
}
