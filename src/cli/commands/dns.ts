/** banger dns status|setup: the daemon's `<name>.vm` DNS server, and wiring the host resolver to it. */
import type { Command } from 'commander';
import { BangerError, badRequest } from '../../api/errors.js';
import { ROUTES } from '../../api/routes.js';
import type { DnsStatus } from '../../api/types.js';
import {
  applyResolvedDropIn,
  applyResolvedLink,
  RESOLVED_COMMANDS,
  RESOLVED_DROPIN,
  resolvedDropIn,
  resolvedLinkCommands,
  resolvedRunning,
  resolverRecipe,
} from '../../system/resolver.js';
import type { CliContext } from '../context.js';
import { printJson } from '../render.js';

/** What setup consults about the host (injectable for tests). */
export interface ResolverHost {
  uid(): number;
  resolvedRunning(): boolean;
  apply(addr: string): Promise<void>;
  applyLink(link: string, bridgeIp: string): Promise<void>;
}

export const hostResolver = (): ResolverHost => ({
  uid: () => process.getuid?.() ?? -1,
  resolvedRunning: () => resolvedRunning(),
  apply: applyResolvedDropIn,
  applyLink: applyResolvedLink,
});

/** The bridge and its address when bridge mode is in use and its guest listener listens: setup wires that link. */
function bridgeLink(s: DnsStatus): { link: string; ip: string; addr: string } | undefined {
  const g = s.guest;
  if (!g?.link || !g.addr) return undefined;
  return { link: g.link, ip: g.addr.slice(0, g.addr.lastIndexOf(':')), addr: g.addr };
}

function renderStatus(s: DnsStatus): string {
  const listening = s.addr ? `${s.addr} (udp, tcp)` : s.configured === '' ? 'off (dns_listen_addr is empty)' : `not listening: ${s.error ?? 'unknown'}`;
  const guest = s.guest
    ? [`guests:   ${s.guest.addr ? `${s.guest.addr} (udp, tcp; bridge mode)` : `not listening: ${s.guest.error ?? 'unknown'}`}`, `answers:  ${s.guest.answers ? 'yes' : 'no'}`]
    : [];
  return [`listener: ${listening}`, `answers:  ${s.answers ? 'yes' : 'no'}`, ...guest, `records:  ${s.records} (*.${s.zone}, running VMs)`].join('\n') + '\n';
}

export function registerDns(
  program: Command,
  ctx: CliContext,
  host: ResolverHost = hostResolver(),
  dnsStatus: () => Promise<DnsStatus> = async () => (await ctx.client()).call(ROUTES.dnsStatus, {}),
): void {
  const dns = program
    .command('dns')
    .description('The <name>.vm DNS server of the daemon')
    .addHelpText(
      'after',
      `
bangerd answers <name>.vm with each running VM's address on dns_listen_addr (UDP and TCP).
Other names are refused there. In bridge mode guests use a second listener on the bridge address
(port 53, UDP and TCP), which also forwards the names a VM's egress allows; status shows both.

Examples:
  banger dns status              listeners, whether they answer, how many names
  banger --json dns status       the same for scripts (guest: the bridge-mode listener)
  banger dns setup --dry-run     show how the host resolver would be wired
  sudo banger dns setup          send *.vm to bangerd through systemd-resolved

How setup wires systemd-resolved:
  bridge mode  per link: the bridge (bridge_name) gets DNS = the bridge address and the routing-only
               domain ~vm, and is no default route (resolvectl dns/domain/default-route), so only
               *.vm goes there. Per-link settings end with the link: bangerd sets them again each
               time it creates the bridge.
  user mode    there is no link of banger's, so a global drop-in (${RESOLVED_DROPIN})
               with DNS=dns_listen_addr and Domains=~vm. ~vm sends every *.vm name to bangerd, but
               resolved also sends names matching no routing domain to the global DNS= servers
               (as well as to the links' default-route servers): bangerd refuses those and the
               links' servers answer them.
Without systemd-resolved, setup prints a recipe for dnsmasq, unbound or /etc/resolver.`,
    );

  dns
    .command('status')
    .description('Show the listener address, whether it answers, and the number of records')
    .action(async () => {
      const s = await dnsStatus();
      if (ctx.globals.json) printJson(ctx.io, s);
      else ctx.io.stdout.write(renderStatus(s));
    });

  async function setupLink(b: { link: string; ip: string; addr: string }, dryRun: boolean): Promise<void> {
    const commands = resolvedLinkCommands(b.link, b.ip);
    const again = `bangerd runs these again each time it creates ${b.link}`;
    if (dryRun) {
      if (host.uid() !== 0) ctx.note('note: setup needs root (sudo)');
      if (ctx.globals.json) printJson(ctx.io, { dryRun: true, resolved: true, scope: 'link', link: b.link, addr: b.addr, commands });
      else ctx.io.stdout.write(`Would run:\n${commands.map((c) => `  ${c.join(' ')}\n`).join('')}(${again})\n`);
      return;
    }
    if (host.uid() !== 0) throw badRequest('banger dns setup needs root', 'sudo banger dns setup (or --dry-run to see what it does)');
    try {
      await host.applyLink(b.link, b.ip);
    } catch (err) {
      throw new BangerError('operation_failed', `wiring systemd-resolved to ${b.link} failed: ${(err as Error).message}`, { hint: `resolvectl status ${b.link}`, cause: err });
    }
    if (ctx.globals.json) printJson(ctx.io, { resolved: true, scope: 'link', link: b.link, addr: b.addr, commands });
    else ctx.io.stdout.write(`set DNS ${b.ip} and domain ~vm on ${b.link}: *.vm now goes to ${b.addr} (${again})\n`);
  }

  dns
    .command('setup')
    .description('Send *.vm to the daemon: systemd-resolved on the bridge link (bridge mode) or a global drop-in, or a recipe for other resolvers')
    .option('--dry-run', 'print what it would write and run; change nothing')
    .action(async (opts: { dryRun?: boolean }) => {
      const s = await dnsStatus();
      const bridge = bridgeLink(s);
      const addr = bridge?.addr ?? s.configured;
      if (addr === '') throw badRequest('the DNS server is off (dns_listen_addr is empty)', 'set dns_listen_addr in config.toml, e.g. "127.0.0.1:42069", and restart the daemon');
      if (!host.resolvedRunning()) {
        if (ctx.globals.json) printJson(ctx.io, { resolved: false, addr, recipe: resolverRecipe(addr) });
        else ctx.io.stdout.write(resolverRecipe(addr));
        return;
      }
      if (bridge) return setupLink(bridge, Boolean(opts.dryRun));
      const dropIn = resolvedDropIn(addr);
      if (opts.dryRun) {
        if (host.uid() !== 0) ctx.note('note: setup needs root (sudo)');
        if (ctx.globals.json) printJson(ctx.io, { dryRun: true, resolved: true, scope: 'global', addr, path: RESOLVED_DROPIN, content: dropIn, commands: RESOLVED_COMMANDS });
        else ctx.io.stdout.write(`Would write ${RESOLVED_DROPIN}:\n\n${dropIn}\nWould run:\n${RESOLVED_COMMANDS.map((c) => `  ${c.join(' ')}\n`).join('')}`);
        return;
      }
      if (host.uid() !== 0) throw badRequest('banger dns setup needs root', 'sudo banger dns setup (or --dry-run to see what it does)');
      try {
        await host.apply(addr);
      } catch (err) {
        throw new BangerError('operation_failed', `wiring systemd-resolved failed: ${(err as Error).message}`, { hint: 'systemctl status systemd-resolved', cause: err });
      }
      if (ctx.globals.json) printJson(ctx.io, { resolved: true, scope: 'global', addr, path: RESOLVED_DROPIN });
      else ctx.io.stdout.write(`wrote ${RESOLVED_DROPIN} and restarted systemd-resolved: *.vm now goes to ${addr}\n`);
    });
}
