/** banger vm egress */
import type { Command } from 'commander';
import { ROUTES } from '../../../api/routes.js';
import type { EgressConnectionRecord, EgressNameRecord } from '../../../api/types.js';
import type { CliContext } from '../../context.js';
import { printJson } from '../../render.js';

function rows(title: string, list: readonly EgressNameRecord[]): string[] {
  if (list.length === 0) return [`${title}: none`];
  return [
    `${title}:`,
    ...list.map((r) => `  ${r.name.padEnd(32)} ${String(r.count).padStart(5)}x  last ${r.last}${r.addresses?.length ? `  -> ${r.addresses.join(', ')}` : ''}`),
  ];
}

function connectionRows(list: readonly EgressConnectionRecord[] | undefined): string[] {
  if (list === undefined) return [];
  if (list.length === 0) return ['refused connections: none'];
  return [
    'refused connections:',
    ...list.map((r) => `  ${`${r.address} ${r.protocol}${r.port !== undefined ? `/${r.port}` : ''}`.padEnd(32)} ${String(r.count).padStart(5)}x  last ${r.last}`),
  ];
}

export function registerEgress(vm: Command, ctx: CliContext): void {
  vm.command('egress')
    .description('Show what a VM may reach and what it tried: allowed and refused names, refused connections, with counts and last time')
    .argument('<name>')
    .addHelpText(
      'after',
      `
In bridge mode the allowlist is enforced by nftables: names through banger's DNS (their answered
addresses are opened for the answer's TTL), CIDRs directly; everything else is dropped. Each refused
destination (address, protocol, port) is listed with its dropped packets and the time of the last try,
for a day after that try; so are attempts at the host's own ports, with or without --nat.
In user mode no packet of the guest leaves it: HTTP and HTTPS go through banger's proxy
(10.0.2.100:3128, set as the guest's http_proxy/https_proxy), which checks --nat and the allowlist
per connection, by name or address, and never connects to the host itself. Tools that ignore proxy
settings, raw TCP and UDP need bridge mode.

Examples:
  banger vm egress dev
  banger --json vm egress dev`,
    )
    .action(async (name: string) => {
      const r = await (await ctx.client()).call(ROUTES.vmEgress, { name });
      if (ctx.globals.json) {
        printJson(ctx.io, r);
        return;
      }
      const lines = [
        `${r.name}: ${r.mode} mode, ${r.running ? 'running' : 'not running'}, nat ${r.nat ? 'on' : 'off'}`,
        `allowlist: ${r.allow === undefined ? '(none)' : r.allow.length === 0 ? '(empty: nothing allowed)' : r.allow.join(', ')}`,
        ...rows('allowed names', r.allowed),
        ...rows('refused names', r.denied),
        ...connectionRows(r.refusedConnections),
        ...(r.droppedPackets !== undefined ? [`dropped packets: ${r.droppedPackets}`] : []),
        r.note,
      ];
      ctx.io.stdout.write(lines.join('\n') + '\n');
    });
}
