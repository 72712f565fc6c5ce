/** Host resolver wiring for `<name>.vm`: the systemd-resolved drop-in and its commands, or a recipe for other resolvers. */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { rewriteFileAtomic } from './atomic-file.js';
import { run } from './exec.js';
import { isIfName } from './netdev.js';

export const RESOLVED_DROPIN = '/etc/systemd/resolved.conf.d/banger.conf';
export const RESOLVED_COMMANDS: readonly (readonly string[])[] = [['systemctl', 'restart', 'systemd-resolved']];

/** True when systemd-resolved runs here (it keeps its state under /run/systemd/resolve). */
export function resolvedRunning(runDir = '/run/systemd/resolve'): boolean {
  return existsSync(runDir);
}

/**
 * The global drop-in (user mode: there is no link of banger's to hang the setting on). `~vm` is a
 * routing-only domain: `*.vm` goes to this server and to no other. It does not keep other names away
 * from it: systemd-resolved sends a name that matches no routing domain to the servers of links marked
 * as DNS default route and to the global DNS= servers as well, so bangerd also gets those queries,
 * refuses them, and the links' servers answer.
 */
export function resolvedDropIn(addr: string): string {
  return ['# Managed by banger (banger dns setup): <name>.vm goes to the banger daemon.', '[Resolve]', `DNS=${addr}`, 'Domains=~vm', ''].join('\n');
}

/**
 * Per-link wiring of banger's bridge (bridge mode): the bridge address as the link's DNS server, `~vm`
 * as its only (routing-only) domain, and not a default route, so only `*.vm` goes there. Per-link
 * settings live as long as the link, so the daemon runs these again whenever it creates the bridge.
 */
export function resolvedLinkCommands(link: string, bridgeIp: string): string[][] {
  if (!isIfName(link)) throw new TypeError(`invalid interface name "${link}"`);
  if (isIP(bridgeIp) !== 4) throw new TypeError(`invalid bridge address "${bridgeIp}"`);
  return [
    ['resolvectl', 'dns', link, bridgeIp],
    ['resolvectl', 'domain', link, '~vm'],
    ['resolvectl', 'default-route', link, 'false'],
  ];
}

/** Applies the per-link wiring (root; the link must exist). */
export async function applyResolvedLink(link: string, bridgeIp: string): Promise<void> {
  for (const c of resolvedLinkCommands(link, bridgeIp)) await run(c, { timeoutMs: 10_000 });
}

/** At bridge creation: wires the link where systemd-resolved runs, and does nothing elsewhere. */
export async function wireBridgeResolver(link: string, bridgeIp: string): Promise<boolean> {
  if (!resolvedRunning()) return false;
  await applyResolvedLink(link, bridgeIp);
  return true;
}

/** What to do where systemd-resolved does not run. */
export function resolverRecipe(addr: string): string {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), addr.slice(addr.lastIndexOf(':') + 1)];
  return [
    `systemd-resolved does not run here, so banger dns setup changes nothing. Send the vm zone to ${addr} yourself:`,
    '',
    `  dnsmasq:   add  server=/vm/${host}#${port}  to /etc/dnsmasq.d/banger.conf and restart dnsmasq`,
    `  unbound:   stub-zone: name: "vm"  stub-addr: ${host}@${port}  (and domain-insecure: "vm")`,
    `  macOS-style /etc/resolver/vm:  nameserver ${host}  and  port ${port}`,
    '',
    `Check it with: dig @${host} -p ${port} <name>.vm`,
    '',
  ].join('\n');
}

/** Writes the drop-in and restarts systemd-resolved (root only; the caller checks). */
export async function applyResolvedDropIn(addr: string): Promise<void> {
  // systemd-resolved reads its config as its own user: the directory must be world-readable.
  await mkdir(dirname(RESOLVED_DROPIN), { recursive: true, mode: 0o755 });
  await rewriteFileAtomic(RESOLVED_DROPIN, resolvedDropIn(addr), 0o644);
  for (const c of RESOLVED_COMMANDS) await run(c, { timeoutMs: 30_000 });
}
