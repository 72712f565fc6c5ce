/** banger vm stats */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { VMStats } from '../../../api/types.js';
import { humanSize } from '../../../model/size.js';
import type { CliContext } from '../../context.js';
import { printJson, table } from '../../render.js';

/** The hypervisor's counters as `label value` lines (firecracker's metrics), or why they could not be read. */
export function countersLines(s: VMStats): string[] {
  const c = s.counters;
  if (!c) return s.countersError ? [`hypervisor counters unavailable: ${s.countersError}`] : [];
  const bytes = (n: number | undefined) => (n === undefined ? '-' : humanSize(n));
  const rows: string[] = [];
  if (c.vcpuExits !== undefined) rows.push(`vcpu exits   ${c.vcpuExits}`);
  if (c.blockReadBytes !== undefined || c.blockWriteBytes !== undefined) rows.push(`block        read ${bytes(c.blockReadBytes)}, written ${bytes(c.blockWriteBytes)}`);
  if (c.netRxBytes !== undefined || c.netTxBytes !== undefined) rows.push(`net          received ${bytes(c.netRxBytes)}, sent ${bytes(c.netTxBytes)}`);
  return rows;
}

export function registerStats(vm: Command, ctx: CliContext): void {
  vm.command('stats')
    .description('CPU and memory of the VM process, and the hypervisor\'s counters where it keeps them (firecracker)')
    .argument('<name>')
    .addHelpText('after', '\nExamples:\n  banger vm stats dev\n  banger vm stats dev --json   # counters.vcpuExits, counters.blockReadBytes, ... for firecracker VMs\n')
    .action(async (name: string) => {
      const s = await (await ctx.client()).call(ROUTES.vmStats, { name });
      if (ctx.globals.json) {
        printJson(ctx.io, s);
        return;
      }
      ctx.io.stdout.write(
        table([[s.name, s.state, s.pid ? String(s.pid) : '-', s.cpuPercent !== undefined ? `${s.cpuPercent}%` : '-', s.rssBytes ? humanSize(s.rssBytes) : '-', `${s.memoryMiB}M`, String(s.vcpu)]], ['NAME', 'STATE', 'PID', 'CPU', 'RSS', 'MEM', 'VCPU']),
      );
      const lines = countersLines(s);
      if (lines.length) ctx.io.stdout.write(`\n${lines.join('\n')}\n`);
    });
}
