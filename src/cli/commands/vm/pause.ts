/** banger vm pause | resume | suspend */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { runOperation } from '../../progress.js';
import { eachName, noPassthrough } from './shared.js';

export function registerPause(vm: Command, ctx: CliContext): void {
  const simple = (cmd: string, route: typeof ROUTES.vmPause | typeof ROUTES.vmResume | typeof ROUTES.vmSuspend, description: string, example: string): void => {
    vm.command(cmd)
      .description(description)
      .argument('<names...>')
      .addHelpText('after', `\nExample:\n  ${example}`)
      .action(async (names: string[]) => {
        noPassthrough(ctx);
        await eachName(ctx, names, async (n) => {
          const info = await runOperation(ctx, route, { name: n });
          if (!ctx.globals.json) ctx.io.stdout.write(`${info.name} ${info.state}\n`);
          return info;
        });
      });
  };
  simple('pause', ROUTES.vmPause, "Stop running VMs' CPUs; memory and process stay (vm resume continues)", 'banger vm pause dev && banger vm resume dev');
  simple('resume', ROUTES.vmResume, 'Let paused VMs run again, also one left paused by an interrupted snapshot (the guest clock is set to the host clock)', 'banger vm resume dev');
  simple(
    'suspend',
    ROUTES.vmSuspend,
    'Save running VMs\' memory to disk and end their process; vm start continues where they were (open TCP sessions aside), vm stop discards the saved state',
    'banger vm suspend dev && banger vm start dev',
  );
}
