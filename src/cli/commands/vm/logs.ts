/** banger vm logs */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';

export function registerLogs(vm: Command, ctx: CliContext): void {
  vm.command('logs')
    .description("Print a VM's serial console log")
    .argument('<name>')
    .option('-f, --follow', 'keep printing as the VM writes')
    .action(async (name: string, o: { follow?: boolean }) => {
      const res = await (await ctx.client()).stream(ROUTES.vmLogs, { name }, o.follow ? { query: { follow: '1' } } : {});
      for await (const chunk of res) ctx.io.stdout.write(chunk as Buffer);
    });
}
