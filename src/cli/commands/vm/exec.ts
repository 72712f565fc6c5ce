/** banger vm exec */
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
      const client = await ctx.client();
      const status = await attach(await sshTarget(client, name), command, false, ctx.transport());
      if (status !== 0) throw new ExitStatus(status);
    });
}
