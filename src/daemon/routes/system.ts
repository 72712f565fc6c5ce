/**
 * ping, shutdown, ssh_config, the effective configuration, the cached hypervisor verdict, the DNS server's
 * status, the host's resources and the web UI's URL.
 */
import { ROUTES } from '../../api/routes.js';
import type { HostInfo, PingResult, RootHelperStatus, WebInfo } from '../../api/types.js';
import { HelperClient } from '../../system/root-helper/client.js';
import { configView } from '../../config/view.js';
import { hostFacts } from '../../system/host.js';
import type { DaemonContext } from '../context.js';
import type { RouteKit } from '../route-kit.js';

function dnsAddr(ctx: DaemonContext): { dnsAddr?: string; guestDnsAddr?: string } {
  const addr = ctx.services.dns.addr();
  const guest = ctx.services.dns.guestAddr();
  return { ...(addr ? { dnsAddr: addr } : {}), ...(guest ? { guestDnsAddr: guest } : {}) };
}

async function helperStatus(client: HelperClient): Promise<RootHelperStatus> {
  try {
    await new HelperClient(client.socketPath, 3000).call({ op: 'ping' });
    return { socket: client.socketPath, reachable: true };
  } catch (err) {
    return { socket: client.socketPath, reachable: false, error: (err as Error).message };
  }
}

export function systemRoutes(kit: RouteKit, ctx: DaemonContext): void {
  kit.sync(ROUTES.ping, async (): Promise<PingResult> => ({
    ...ctx.build,
    pid: process.pid,
    socket: ctx.layout.socketPath,
    logPath: ctx.layout.daemonLog,
    stateDir: ctx.layout.stateDir,
    startedAt: ctx.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    ...dnsAddr(ctx),
    ...(ctx.web ? { webUrl: `http://${ctx.web.listenAddr}/` } : {}),
    ...(process.getuid ? { uid: process.getuid() } : {}),
    ...(ctx.services.rootHelper ? { rootHelper: await helperStatus(ctx.services.rootHelper) } : {}),
  }));
  kit.sync(ROUTES.shutdown, () => {
    ctx.requestShutdown();
    return { stopping: true };
  });
  kit.sync(ROUTES.sshConfig, async () => ({ path: await ctx.services.vms.syncSSHConfig() }));
  kit.sync(ROUTES.config, () => configView(ctx.loaded, ctx.layout.configFile));
  kit.sync(ROUTES.hypervisor, () => ctx.services.hypervisor.verdictInfo());
  kit.sync(ROUTES.dnsStatus, () => ctx.services.dns.status());
  kit.sync(ROUTES.host, (): HostInfo => {
    const vms = ctx.services.vms.list();
    return {
      ...hostFacts(ctx.layout.stateDir),
      driver: ctx.loaded.config.driver,
      networkMode: ctx.loaded.config.network_mode,
      vms: { total: vms.length, running: vms.filter((v) => v.state === 'running').length },
      images: ctx.services.images.list().length,
      kernels: ctx.services.kernels.list().length,
    };
  });
  kit.sync(ROUTES.web, (): WebInfo => {
    const listenAddr = ctx.loaded.config.web_listen_addr;
    if (!ctx.web) return { enabled: false, listenAddr, ...(ctx.webError ? { error: ctx.webError } : {}) };
    return { enabled: true, listenAddr: ctx.web.listenAddr, url: `http://${ctx.web.listenAddr}/?token=${ctx.web.token}` };
  });
}
