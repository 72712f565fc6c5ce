/** banger vm health */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import { ExitStatus, type CliContext } from '../../context.js';
import { printJson } from '../../render.js';

export function registerHealth(vm: Command, ctx: CliContext): void {
  vm.command('health')
    .description('Check that a VM answers: over its vsock guest channel where the driver has one (firecracker), else over SSH')
    .argument('<name>')
    .action(async (name: string) => {
      const h = await (await ctx.client()).call(ROUTES.vmHealth, { name });
      if (ctx.globals.json) printJson(ctx.io, h);
      else ctx.io.stdout.write(h.ok ? `${h.name}: healthy (${h.via === 'vsock' ? `vsock ${h.channelMs}` : `ssh ${h.sshMs}`} ms)\n` : `${h.name}: unhealthy: ${h.error}\n`);
      if (!h.ok) throw new ExitStatus(1);
    });
}
