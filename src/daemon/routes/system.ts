/** ping, shutdown, the effective configuration and the cached hypervisor verdict. */
import { Hono } from 'hono';
import { HYPERVISOR_VERDICT_PATH } from '../../api/daemon-status.js';
import type { PingResult } from '../../api/types.js';
import type { DaemonContext } from '../context.js';
import { hypervisorVerdictInfo } from '../hypervisor-verdict.js';

export function systemRoutes(ctx: DaemonContext): Hono {
  const r = new Hono();
  r.get('/ping', (c) => {
    const res: PingResult = {
      ...ctx.build,
      pid: process.pid,
      socket: ctx.layout.socketPath,
      logPath: ctx.layout.daemonLog,
      stateDir: ctx.layout.stateDir,
      startedAt: ctx.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    };
    return c.json(res);
  });
  r.post('/shutdown', (c) => {
    ctx.requestShutdown();
    return c.json({ stopping: true });
  });
  r.post('/ssh-config', async (c) => c.json({ path: await ctx.services.vms.syncSSHConfig() }));
  r.get('/config', (c) => c.json({ file: ctx.loaded.file ?? null, path: ctx.layout.configFile, config: ctx.loaded.config, sources: ctx.loaded.sources }));
  r.get(HYPERVISOR_VERDICT_PATH, async (c) => c.json(await hypervisorVerdictInfo(ctx.db, ctx.loaded.config)));
  return r;
}
