/** ping, shutdown, ssh_config, the effective configuration, the cached hypervisor verdict and the DNS server's status. */
import { ROUTES } from '../../api/routes.js';
import type { PingResult } from '../../api/types.js';
import { configView } from '../../config/view.js';
import type { DaemonContext } from '../context.js';
import type { RouteKit } from '../route-kit.js';

function dnsAddr(ctx: DaemonContext): { dnsAddr?: string } {
  const addr = ctx.services.dns.addr();
  return addr ? { dnsAddr: addr } : {};
}

export function systemRoutes(kit: RouteKit, ctx: DaemonContext): void {
  kit.sync(ROUTES.ping, (): PingResult => ({
    ...ctx.build,
    pid: process.pid,
    socket: ctx.layout.socketPath,
    logPath: ctx.layout.daemonLog,
    stateDir: ctx.layout.stateDir,
    startedAt: ctx.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    ...dnsAddr(ctx),
  }));
  kit.sync(ROUTES.shutdown, () => {
    ctx.requestShutdown();
    return { stopping: true };
  });
  kit.sync(ROUTES.sshConfig, async () => ({ path: await ctx.services.vms.syncSSHConfig() }));
  kit.sync(ROUTES.config, () => configView(ctx.loaded, ctx.layout.configFile));
  kit.sync(ROUTES.hypervisor, () => ctx.services.hypervisor.verdictInfo());
  kit.sync(ROUTES.dnsStatus, () => ctx.services.dns.status());
}
