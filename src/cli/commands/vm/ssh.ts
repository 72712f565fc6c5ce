/** banger vm ssh */
import type { Command } from 'commander';
import { ExitStatus, type CliContext } from '../../context.js';
import { attach, sshTarget } from '../../guest-ssh.js';

export function registerSSH(vm: Command, ctx: CliContext): void {
  vm.command('ssh')
    .description('Open a root shell in a running VM (or run a command after --)')
    .argument('<name>')
    .addHelpText('after', '\nExamples:\n  banger vm ssh dev\n  banger vm ssh dev -- tail -f /var/log/syslog')
    .action(async (name: string) => {
      const client = await ctx.client();
      const command = ctx.passthrough;
      const status = await attach(await sshTarget(client, name), command, 'auto', ctx.transport());
      if (!command?.length) ctx.note(`vm ${name} is still running (stop with banger vm stop ${name})`);
      if (status !== 0) throw new ExitStatus(status);
    });
}
