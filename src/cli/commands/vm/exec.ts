/**
 * banger vm exec: on a terminal (or through a remote context) ssh gets the terminal itself; otherwise
 * the SDK's streamed exec runs it, its output copied to ours. Either way its exit status is passed on.
 * It runs in the VM's workspace when there is one; --auto-prepare copies the host's changes first.
 */
import type { Command } from 'commander';
import { badRequest } from '../../../api/errors.js';
import { ExitStatus, type CliContext } from '../../context.js';
import { attach } from '../../guest-ssh.js';
import { hostMoved, inDir } from './in-workspace.js';
import { reportPrepare } from './workspace-flags.js';

export function registerExec(vm: Command, ctx: CliContext): void {
  vm.command('exec')
    .description('Run a command in a running VM (in its workspace when it has one); its exit status becomes banger\'s')
    .argument('<name>')
    .option('--guest-path <dir>', "directory to run in (default: the VM's workspace, else root's home)")
    .option('--auto-prepare', 'first copy the host checkout\'s changes into the workspace when its HEAD moved or its tree is dirty')
    .addHelpText(
      'after',
      "\nExamples:\n  banger vm exec dev -- uname -a\n  banger vm exec dev -- make test              runs in /root/repo after vm workspace prepare\n  banger vm exec dev --auto-prepare -- make test\n  banger vm exec dev --guest-path /tmp -- ls",
    )
    .action(async (name: string, o: { guestPath?: string; autoPrepare?: boolean }) => {
      const command = ctx.passthrough;
      if (!command?.length) throw badRequest('vm exec needs a command after --', `e.g. banger vm exec ${name} -- uname -a`);
      const target = await ctx.sdk().vms.get(name);
      const ws = target.info.workspace;
      if (ws && o.guestPath === undefined) {
        const moved = await hostMoved(ws);
        if (o.autoPrepare) {
          if (!moved) ctx.note(`banger: ${ws.sourcePath} is not on this machine; --auto-prepare skipped`);
          else if (moved.headMoved || moved.dirty) {
            const r = await target.workspace.prepare(ws.sourcePath, { guestPath: ws.guestPath, includeUntracked: ws.includeUntracked, signal: ctx.interrupt.signal });
            if (!ctx.globals.json) reportPrepare(ctx, name, r);
          }
        } else if (moved?.headMoved) {
          ctx.note(ctx.err.dim(`banger: ${ws.sourcePath} moved to ${moved.head.slice(0, 12)} since it was copied (${ws.headCommit.slice(0, 12)}); --auto-prepare copies the changes`));
        }
      } else if (o.autoPrepare && !ws) {
        throw badRequest(`vm ${name} has no workspace to keep up to date`, `copy one in first: banger vm workspace prepare ${name} PATH`);
      }
      const argv = inDir(command, o.guestPath ?? ws?.guestPath)!;
      const transport = ctx.transport();
      if (transport || ctx.io.stdin.isTTY) {
        const status = await attach(await target.sshTarget(), argv, false, transport);
        if (status !== 0) throw new ExitStatus(status);
        return;
      }
      const run = target.execStream(argv, { stdin: ctx.io.stdin, signal: ctx.interrupt.signal });
      const copy = async (from: AsyncIterable<Buffer>, to: NodeJS.WritableStream) => {
        for await (const chunk of from) to.write(chunk);
      };
      const [status] = await Promise.all([run.exit, copy(run.stdout, ctx.io.stdout), copy(run.stderr, ctx.io.stderr)]);
      if (status !== 0) throw new ExitStatus(status);
    });
}
