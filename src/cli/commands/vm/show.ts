/** banger vm show */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import { formatSize } from '../../../model/size.js';
import type { CliContext } from '../../context.js';
import { printJson } from '../../render.js';

export function registerShow(vm: Command, ctx: CliContext): void {
  vm.command('show')
    .description('Show one VM in detail')
    .argument('<name>')
    .action(async (name: string) => {
      const v = await (await ctx.client()).call(ROUTES.vmShow, { name });
      if (ctx.globals.json) {
        printJson(ctx.io, v);
        return;
      }
      const rows: [string, string][] = [
        ['name', v.name], ['id', v.id], ['state', v.state], ['image', v.imageName ?? v.imageId],
        ['vcpu', String(v.spec.vcpu)], ['memory', `${v.spec.memoryMiB} MiB`], ['disk', formatSize(v.spec.diskSizeBytes)],
        ['dns', v.dnsName], ['ssh', v.sshPort ? `${v.sshHost}:${v.sshPort}` : '-'], ['driver', v.driver ? `${v.driver} (${v.accel ?? '?'})` : (v.spec.driver ?? '-')],
        ['pid', v.pid ? String(v.pid) : '-'], ['created', v.createdAt],
      ];
      if (v.lastError) rows.push(['last error', v.lastError]);
      for (const p of v.problems ?? []) rows.push(['problem', p]);
      ctx.io.stdout.write(rows.map(([k, val]) => `${(k + ':').padEnd(12)}${val}`).join('\n') + '\n');
    });
}
