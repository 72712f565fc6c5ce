/** banger vm set */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { SetVMRequest } from '../../../api/types.js';
import { formatSize } from '../../../model/size.js';
import type { CliContext } from '../../context.js';
import { allowOption, intOption, memoryOption, sizeOption } from '../../options.js';
import { runOperation } from '../../progress.js';
import { eachName } from './shared.js';

export function registerSet(vm: Command, ctx: CliContext): void {
  vm.command('set')
    .description('Change a VM: --vcpu/--memory on a stopped VM, --disk-size grows the work disk, egress (--nat, --allow, --deny) at once, also on a running VM')
    .argument('<names...>')
    .option('--vcpu <n>', 'virtual CPUs', intOption('--vcpu', 1, 64))
    .option('--memory <mib>', 'memory in MiB (or 2G)', memoryOption)
    .option('--disk-size <size>', 'grow the work disk to this size', sizeOption)
    .option('--nat', 'enable outbound network access (at once on a running VM; user mode: HTTP/HTTPS through banger\'s proxy)')
    .option('--no-nat', 'disable outbound network access (at once on a running VM)')
    .option('--allow <entries>', 'add domains, *.wildcards, IPv4 addresses or CIDRs to the allowlist (comma-separated)', allowOption)
    .option('--deny <entries>', 'remove entries from the allowlist', allowOption)
    .addHelpText(
      'after',
      '\nExamples:\n  banger vm stop dev && banger vm set dev --vcpu 4 --memory 4G --disk-size 32G\n  banger vm set dev --nat                              (applies at once)\n  banger vm set dev --allow example.com,*.npmjs.org   (applies at once)\n  banger vm set dev --deny example.com',
    )
    .action(async (names: string[], o: { vcpu?: number; memory?: number; diskSize?: string; nat?: boolean; allow?: string[]; deny?: string[] }) => {
      const body: SetVMRequest = {};
      if (o.vcpu !== undefined) body.vcpu = o.vcpu;
      if (o.memory !== undefined) body.memoryMiB = o.memory;
      if (o.diskSize !== undefined) body.diskSize = o.diskSize;
      if (o.nat !== undefined) body.nat = o.nat;
      if (o.allow !== undefined) body.allow = o.allow;
      if (o.deny !== undefined) body.deny = o.deny;
      await eachName(ctx, names, async (n) => {
        const info = await runOperation(ctx, ROUTES.vmSet, { name: n }, body);
        if (!ctx.globals.json) ctx.io.stdout.write(`${info.name}: ${info.spec.vcpu} vcpu, ${info.spec.memoryMiB} MiB, ${formatSize(info.spec.diskSizeBytes)} disk, ${info.spec.nat ? 'nat' : 'no nat'}\n`);
        return info;
      });
    });
}
