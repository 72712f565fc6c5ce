/** banger vm kill */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { VMSignal } from '../../../api/types.js';
import type { CliContext } from '../../context.js';
import { runOperation } from '../../progress.js';
import { eachName, signalOption } from './shared.js';

export function registerKill(vm: Command, ctx: CliContext): void {
  vm.command('kill')
    .description("Force-stop VMs (use when 'vm stop' hangs)")
    .argument('<names...>')
    .option('-s, --signal <signal>', 'signal to send', signalOption, 'SIGKILL')
    .action(async (names: string[], o: { signal: VMSignal }) => {
      await eachName(ctx, names, async (n) => {
        const info = await runOperation(ctx, ROUTES.vmKill, { name: n }, { signal: o.signal });
        if (!ctx.globals.json) ctx.io.stdout.write(`${info.name} ${info.state}\n`);
        return info;
      });
    });
}
