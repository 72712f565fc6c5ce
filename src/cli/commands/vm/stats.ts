/** banger vm stats */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import { humanSize } from '../../../model/size.js';
import type { CliContext } from '../../context.js';
import { printJson, table } from '../../render.js';

export function registerStats(vm: Command, ctx: CliContext): void {
  vm.command('stats')
    .description('CPU and memory of the VM process')
    .argument('<name>')
    .action(async (name: string) => {
      const s = await (await ctx.client()).call(ROUTES.vmStats, { name });
      if (ctx.globals.json) {
        printJson(ctx.io, s);
        return;
      }
      ctx.io.stdout.write(
        table([[s.name, s.state, s.pid ? String(s.pid) : '-', s.cpuPercent !== undefined ? `${s.cpuPercent}%` : '-', s.rssBytes ? humanSize(s.rssBytes) : '-', `${s.memoryMiB}M`, String(s.vcpu)]], ['NAME', 'STATE', 'PID', 'CPU', 'RSS', 'MEM', 'VCPU']),
      );
    });
}
