/**
 * banger vm exec: on a terminal (or through a remote context) ssh gets the terminal itself; otherwise
 * the SDK's streamed exec runs it, its output copied to ours. Either way its exit status is passed on.
 */
import type { Command } from 'commander';
import { badRequest } from '../../../api/errors.js';
import { ExitStatus, type CliContext } from '../../context.js';
import { attach, sshTarget } from '../../guest-ssh.js';

export function registerExec(vm: Command, ctx: CliContext): void {
  vm.command('exec')
    .description('Run a command in a running VM; its exit status becomes banger\'s')
    .argument('<name>')
    .addHelpText('after', "\nExamples:\n  banger vm exec dev -- uname -a\n  banger vm exec dev -- sh -c 'cd /root && make test'")
    .action(async (name: string) => {
      const command = ctx.passthrough;
      if (!command?.length) throw badRequest('vm exec needs a command after --', `e.g. banger vm exec ${name} -- uname -a`);
      const transport = ctx.transport();
      if (transport || ctx.io.stdin.isTTY) {
        const status = await attach(await sshTarget(await ctx.client(), name), command, false, transport);
        if (status !== 0) throw new ExitStatus(status);
        return;
      }
      const target = await ctx.sdk().vms.get(name);
      const run = target.execStream(command, { stdin: ctx.io.stdin, signal: ctx.interrupt.signal });
      const copy = async (from: AsyncIterable<Buffer>, to: NodeJS.WritableStream) => {
        for await (const chunk of from) to.write(chunk);
      };
      const [status] = await Promise.all([run.exit, copy(run.stdout, ctx.io.stdout), copy(run.stderr, ctx.io.stderr)]);
      if (status !== 0) throw new ExitStatus(status);
    });
}
