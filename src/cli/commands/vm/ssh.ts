/** banger vm ssh: a shell (or a command) in a running VM, starting in its workspace when it has one. */
import type { Command } from 'commander';
import { ExitStatus, type CliContext } from '../../context.js';
import { attach } from '../../guest-ssh.js';
import { inDir } from './in-workspace.js';

export function registerSSH(vm: Command, ctx: CliContext): void {
  vm.command('ssh')
    .description("Open a root shell in a running VM, in its workspace when it has one (or run a command after --)")
    .argument('<name>')
    .addHelpText('after', '\nExamples:\n  banger vm ssh dev\n  banger vm ssh dev -- tail -f /var/log/syslog')
    .action(async (name: string) => {
      const vm = await ctx.sdk().vms.get(name);
      const command = ctx.passthrough;
      const status = await attach(await vm.sshTarget(), inDir(command, vm.info.workspace?.guestPath), 'auto', ctx.transport());
      if (!command?.length) ctx.note(`vm ${name} is still running (stop with banger vm stop ${name})`);
      if (status !== 0) throw new ExitStatus(status);
    });
}
