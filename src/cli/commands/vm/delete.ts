/** banger vm delete (rm) */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { runOperation } from '../../progress.js';
import { eachName } from './shared.js';

export function registerDelete(vm: Command, ctx: CliContext): void {
  vm.command('delete')
    .alias('rm')
    .description('Stop VMs and remove their disks (irreversible)')
    .argument('<names...>')
    .addHelpText('after', '\nExample:\n  banger vm delete dev old-box')
    .action(async (names: string[]) => {
      await eachName(ctx, names, async (n) => {
        const r = await runOperation(ctx, ROUTES.vmDelete, { name: n });
        if (!ctx.globals.json) ctx.io.stdout.write(`deleted ${r.deleted}\n`);
        return r;
      });
    });
}
