/** banger vm list (ls), and `banger ps` */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { printJson } from '../../render.js';
import { vmTable } from './shared.js';

export function registerList(cmd: Command, ctx: CliContext): Command {
  return cmd.description('List VMs (NAME STATE IMAGE IP VCPU MEM AGE)').action(async () => {
    const vms = await (await ctx.client()).call(ROUTES.vmList, {});
    if (ctx.globals.json) printJson(ctx.io, vms);
    else if (vms.length === 0) ctx.io.stdout.write('no VMs yet (create one with banger vm run)\n');
    else ctx.io.stdout.write(vmTable(vms));
  });
}
