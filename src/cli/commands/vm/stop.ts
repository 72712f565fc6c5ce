/** banger vm stop */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { intOption } from '../../options.js';
import { runOperation } from '../../progress.js';
import { eachName } from './shared.js';

export function registerStop(vm: Command, ctx: CliContext): void {
  vm.command('stop')
    .description('Stop VMs gracefully (sync and power off in the guest; disks are kept)')
    .argument('<names...>')
    .option('--timeout <seconds>', 'kill the VM if it has not powered off by then', intOption('--timeout', 1, 3600))
    .addHelpText('after', '\nExample:\n  banger vm stop dev')
    .action(async (names: string[], o: { timeout?: number }) => {
      await eachName(ctx, names, async (n) => {
        const info = await runOperation(ctx, ROUTES.vmStop, { name: n }, o.timeout ? { timeoutSeconds: o.timeout } : {});
        if (!ctx.globals.json) ctx.io.stdout.write(`${info.name} ${info.state}\n`);
        return info;
      });
    });
}
