/** banger vm create */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { CliContext } from '../../context.js';
import { runOperation } from '../../progress.js';
import { printJson } from '../../render.js';
import { addCreateFlags, createBody, type CreateOpts } from './create-flags.js';
import { noPassthrough } from './shared.js';

export function registerCreate(vm: Command, ctx: CliContext): void {
  addCreateFlags(vm.command('create').description('Create a VM (and start it unless --no-start)'))
    .option('--no-start', 'create the disks only')
    .addHelpText('after', `\nExamples:\n  banger vm create --name dev\n  banger vm create --name big --vcpu 4 --memory 8G --disk-size 32G\n  banger vm create --image debian-bookworm --name box --no-start\n  banger vm create --name web -p 8080:80   (then curl http://web.vm:8080)\n  banger vm create --name dev --nat   (outbound HTTP/HTTPS through banger's proxy)\n  banger vm create --network bridge --nat --allow deb.debian.org   (bridge mode, root: all traffic, by allowlist)\n  banger vm create --name fc --driver firecracker --network bridge   (this VM on Firecracker, whatever config's driver says)`)
    .action(async (o: CreateOpts) => {
      noPassthrough(ctx);
      const info = await runOperation(ctx, ROUTES.vmCreate, {}, createBody(o));
      if (ctx.globals.json) printJson(ctx.io, info);
      else ctx.io.stdout.write(`${info.name}\n`);
    });
}
