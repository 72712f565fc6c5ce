/** The flags `vm workspace prepare` and `vm run PATH` share, and what the CLI prints after a prepare. */
import type { Command } from 'commander';
import type { CliContext } from '../../context.js';
import { printJson } from '../../render.js';
import type { PrepareOptions, PreparedWorkspace, VM } from '../../../sdk/index.js';
import { detectTooling, sourcesFor } from '../../../sdk/workspace/tooling.js';

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
  /** False with --no-bootstrap. */
  bootstrap?: boolean;
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
    .option('--dry-run', 'list the files that would be copied, and change nothing')
    .option('--no-bootstrap', 'do not install the tool versions the checkout pins (mise install in the guest)');
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

/**
 * After a prepare: `mise install` of the versions the checkout pins (.mise.toml, .tool-versions, go.mod,
 * package.json engines, .python-version, rust-toolchain), best effort; a failure is a warning.
 */
export async function bootstrapAfterPrepare(ctx: CliContext, vm: VM, r: PreparedWorkspace, o: WorkspaceFlags): Promise<void> {
  if (o.bootstrap === false || o.dryRun) return;
  const plan = detectTooling(r.workspace.sourcePath);
  if (plan.pins.length === 0 && plan.miseFiles.length === 0) return;
  const what = [...plan.miseFiles, ...plan.pins.map((p) => `${p.tool}@${p.version} (${p.source})`)].join(', ');
  if (!ctx.globals.json) ctx.note(ctx.err.dim(`tooling: mise install for ${what}`));
  const b = await vm.workspace.bootstrap(plan, r.workspace.guestPath, { signal: ctx.interrupt.signal });
  if (b.status === 'no_mise') ctx.note(`banger: warning: the image has no mise; tooling bootstrap skipped (${what})`);
  else if (b.status === 'failed') {
    ctx.note(
      `banger: warning: tooling bootstrap failed; see ${b.log} in ${vm.name}. mise needs egress to ${sourcesFor(plan).join(', ')} (--nat, or --allow with those names); --no-bootstrap skips it`,
    );
  } else if (b.status === 'installed' && !ctx.globals.json) ctx.note(ctx.err.dim(`tooling: installed ${b.tools.join(', ')}`));
}
