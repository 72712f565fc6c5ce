/** Host resolver wiring for `<name>.vm`: the systemd-resolved drop-in and its commands, or a recipe for other resolvers. */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { rewriteFileAtomic } from './atomic-file.js';
import { run } from './exec.js';

export const RESOLVED_DROPIN = '/etc/systemd/resolved.conf.d/banger.conf';
export const RESOLVED_COMMANDS: readonly (readonly string[])[] = [['systemctl', 'restart', 'systemd-resolved']];

/** True when systemd-resolved runs here (it keeps its state under /run/systemd/resolve). */
export function resolvedRunning(runDir = '/run/systemd/resolve'): boolean {
  return existsSync(runDir);
}

/** The drop-in that sends `*.vm` (and only that: `~vm` is a routing-only domain) to banger's listener. */
export function resolvedDropIn(addr: string): string {
  return ['# Managed by banger (banger dns setup): <name>.vm goes to the banger daemon.', '[Resolve]', `DNS=${addr}`, 'Domains=~vm', ''].join('\n');
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
