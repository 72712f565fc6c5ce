/** banger vm workspace prepare|export|apply, and banger vm diff: a git checkout in, the guest's work back. */
import type { Command } from 'commander';
import { writeFileSync, renameSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliContext } from '../../context.js';
import { printJson } from '../../render.js';
import { noPassthrough } from './shared.js';
import { addWorkspaceFlags, bootstrapAfterPrepare, prepareOptions, reportPrepare, type WorkspaceFlags } from './workspace-flags.js';

export function registerWorkspace(vm: Command, ctx: CliContext): void {
  const ws = vm
    .command('workspace')
    .description('Copy a git checkout into a VM, and get the changes made there back as a patch')
    .addHelpText(
      'after',
      `
Examples:
  banger vm workspace prepare dev .                     copy this checkout to dev:/root/repo
  banger vm workspace prepare dev . --include-untracked --branch agent
  banger vm diff dev                                    what changed in the guest (stat)
  banger vm workspace export dev --output work.patch    the changes as a binary patch (git apply work.patch)
  banger vm workspace apply dev                         apply them to the checkout they came from`,
    );

  addWorkspaceFlags(
    ws
      .command('prepare')
      .description('Copy a git checkout into a VM (history, working tree); again later, only what changed')
      .argument('<name>', 'the VM (running)')
      .argument('<path>', 'a directory in the git checkout'),
  )
    .addHelpText(
      'after',
      `
The history goes as a git bundle, the working tree as a tar stream, over the VM's SSH connection;
the guest's index matches HEAD, so git status there shows the host's uncommitted work. The base
commit is recorded on the VM (banger vm show). Preparing again sends only the difference.

Examples:
  banger vm workspace prepare dev ~/src/app
  banger vm workspace prepare dev . --dry-run
  banger vm workspace prepare dev . --guest-path /root/app --branch try-1 --from main`,
    )
    .action(async (name: string, path: string, o: WorkspaceFlags) => {
      noPassthrough(ctx);
      const opts = prepareOptions(o, ctx);
      const target = await ctx.sdk().vms.get(name);
      const r = await target.workspace.prepare(path, opts);
      reportPrepare(ctx, name, r);
      await bootstrapAfterPrepare(ctx, target, r, o);
    });

  ws.command('export')
    .description("Write the guest's changes (committed or not, untracked included) as a binary patch")
    .argument('<name>')
    .option('--base-commit <sha>', 'compare with this commit (e.g. the recorded headCommit) instead of the tree as prepared')
    .option('-o, --output <file>', 'write the patch to this file instead of stdout')
    .addHelpText(
      'after',
      `
The guest's index is not touched (a temporary index is used). By default the patch holds only what
changed in the guest since the prepare; with --base-commit it is everything since that commit.

Examples:
  banger vm workspace export dev | git apply
  banger vm workspace export dev --output work.patch
  banger vm workspace export dev --base-commit "$(banger --json vm show dev | jq -r .workspace.headCommit)"`,
    )
    .action(async (name: string, o: { baseCommit?: string; output?: string }) => {
      noPassthrough(ctx);
      const vm = await ctx.sdk().vms.get(name);
      const patch = await vm.workspace.export({ ...(o.baseCommit !== undefined ? { baseCommit: o.baseCommit } : {}), signal: ctx.interrupt.signal });
      if (o.output !== undefined) {
        const out = resolve(o.output);
        const tmp = `${out}.banger-${process.pid}`;
        writeFileSync(tmp, patch, { mode: 0o644 });
        renameSync(tmp, out);
        if (ctx.globals.json) printJson(ctx.io, { output: out, bytes: patch.length });
        else ctx.note(patch.length === 0 ? `no changes in ${name}; wrote an empty ${out}` : `wrote ${patch.length} bytes to ${out}`);
        return;
      }
      if (ctx.globals.json) return printJson(ctx.io, { bytes: patch.length, patch: patch.toString('utf8') });
      ctx.io.stdout.write(patch);
    });

  ws.command('apply')
    .description('Apply the guest\'s changes to the host checkout they came from')
    .argument('<name>')
    .addHelpText(
      'after',
      `
A clean apply changes only the working tree. When the host checkout has its own uncommitted changes
in files the guest changed, nothing is applied and the files are named; when the host moved on, a
3-way merge is used (its result is staged) if it succeeds without conflicts.

Examples:
  banger vm workspace apply dev
  banger vm diff dev && banger vm workspace apply dev`,
    )
    .action(async (name: string) => {
      noPassthrough(ctx);
      const vm = await ctx.sdk().vms.get(name);
      const r = await vm.workspace.apply({ signal: ctx.interrupt.signal });
      if (ctx.globals.json) return printJson(ctx.io, r);
      if (r.method === 'none') ctx.note(`no changes in ${name}; nothing to apply`);
      else ctx.note(`applied ${r.files.length} file${r.files.length === 1 ? '' : 's'} to ${r.hostPath}${r.method === '3way' ? ' (3-way merge; the result is staged)' : ''}`);
    });
}

export function registerDiff(vm: Command, ctx: CliContext): void {
  vm.command('diff')
    .description("Show what changed in a VM's workspace (a diffstat; --patch for the full diff)")
    .argument('<name>')
    .option('--patch', 'the full diff instead of the stat')
    .option('--base-commit <sha>', 'compare with this commit instead of the tree as prepared')
    .addHelpText('after', '\nExamples:\n  banger vm diff dev\n  banger vm diff dev --patch | less')
    .action(async (name: string, o: { patch?: boolean; baseCommit?: string }) => {
      noPassthrough(ctx);
      const vm = await ctx.sdk().vms.get(name);
      const text = await vm.workspace.diff(o.patch ? 'patch' : 'stat', { ...(o.baseCommit !== undefined ? { baseCommit: o.baseCommit } : {}), signal: ctx.interrupt.signal });
      if (ctx.globals.json) return printJson(ctx.io, { [o.patch ? 'patch' : 'stat']: text });
      if (text === '') ctx.note(`no changes in ${name}`);
      else ctx.io.stdout.write(text);
    });
}
