/** banger vm start */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { runOperation } from '../../progress.js';
import { eachName, noPassthrough } from './shared.js';

export function registerStart(vm: Command, ctx: CliContext): void {
  vm.command('start')
    .description('Start stopped VMs')
    .argument('<names...>')
    .addHelpText('after', '\nExample:\n  banger vm start dev')
    .action(async (names: string[]) => {
      noPassthrough(ctx);
      await eachName(ctx, names, async (n) => {
        const info = await runOperation(ctx, ROUTES.vmStart, { name: n });
        if (!ctx.globals.json) ctx.io.stdout.write(`${info.name} running\n`);
        return info;
      });
    });
}
