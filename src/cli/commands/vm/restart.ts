/** banger vm restart */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { runOperation } from '../../progress.js';
import { printJson } from '../../render.js';

export function registerRestart(vm: Command, ctx: CliContext): void {
  vm.command('restart')
    .description('Stop then start a VM')
    .argument('<name>')
    .action(async (name: string) => {
      const info = await runOperation(ctx, ROUTES.vmRestart, { name });
      if (ctx.globals.json) printJson(ctx.io, info);
      else ctx.io.stdout.write(`${info.name} running\n`);
    });
}
