/** banger vm prune */
import type { Command } from 'commander';
import { badRequest } from '../../../api/errors.js';
import { isActive } from '../../../model/vm-state.js';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { runOperation } from '../../progress.js';
import { printJson } from '../../render.js';
import { readLine, vmTable } from './shared.js';

export function registerPrune(vm: Command, ctx: CliContext): void {
  vm.command('prune')
    .description('Delete every VM that is not running')
    .option('-f, --force', 'do not ask')
    .action(async (o: { force?: boolean }) => {
      const client = await ctx.client();
      const victims = (await client.call(ROUTES.vmList, {})).filter((v) => !isActive(v.state));
      if (victims.length === 0) {
        if (ctx.globals.json) printJson(ctx.io, { deleted: [], skipped: [] });
        else ctx.io.stdout.write('nothing to prune\n');
        return;
      }
      if (!o.force) {
        ctx.io.stdout.write(vmTable(victims));
        if (!ctx.io.stdin.isTTY) throw badRequest(`would delete ${victims.length} VM(s); pass -f to confirm`, 'banger vm prune -f');
        ctx.io.stdout.write(`Delete these ${victims.length} VM(s)? [y/N] `);
        const answer = await readLine(ctx.io.stdin);
        if (!/^y(es)?$/i.test(answer.trim())) {
          ctx.io.stdout.write('nothing deleted\n');
          return;
        }
      }
      const r = await runOperation(ctx, ROUTES.vmPrune, {});
      if (ctx.globals.json) printJson(ctx.io, r);
      else {
        ctx.io.stdout.write(r.deleted.map((n) => `deleted ${n}\n`).join(''));
        for (const n of r.skipped) ctx.note(`kept ${n}: another command is working on it`);
      }
    });
}
