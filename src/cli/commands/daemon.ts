/** banger daemon start|stop|status */
import type { Command } from 'commander';
import { ApiClient } from '../../api/client.js';
import { buildInfo, sameBuild } from '../../api/build-info.js';
import { tryHypervisorVerdict, tryPing } from '../../api/daemon-status.js';
import { BangerError } from '../../api/errors.js';
import { ROUTES } from '../../api/routes.js';
import type { PingResult } from '../../api/types.js';
import type { CliContext } from '../context.js';
import { startDaemon, waitForDaemon, waitGone } from '../../sdk/daemon.js';
import { printJson } from '../render.js';
import { pidAlive } from '../../system/proc.js';

async function waitExit(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

function uptime(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${m}m` : m ? `${m}m${s % 60}s` : `${s}s`;
}

export function registerDaemon(program: Command, ctx: CliContext): void {
  const daemon = program
    .command('daemon')
    .description('Manage the banger daemon (bangerd)')
    .addHelpText(
      'after',
      `
The CLI starts bangerd on first use; these commands control it directly.

Examples:
  banger daemon status      pid, socket, log path, uptime and version
  banger daemon stop        stop it (running VMs keep running)
  banger daemon start       start it in the background`,
    );

  daemon
    .command('start')
    .description('Start bangerd in the background')
    .action(async () => {
      if (await ctx.delegate(['daemon', 'start'])) return;
      const layout = ctx.layout();
      const client = new ApiClient(layout.socketPath);
      const existing = await tryPing(client);
      if (existing) {
        if (ctx.globals.json) printJson(ctx.io, existing);
        else ctx.io.stdout.write(`bangerd is already running (pid ${existing.pid})\n`);
        return;
      }
      const pid = startDaemon(layout, ctx.io.env);
      const ping = await waitForDaemon(client, pid, layout);
      if (ctx.globals.json) printJson(ctx.io, ping);
      else ctx.io.stdout.write(`bangerd started (pid ${ping.pid}, socket ${ping.socket})\n`);
    });

  daemon
    .command('stop')
    .description('Stop bangerd (VMs keep running and are re-adopted on the next start)')
    .action(async () => {
      if (await ctx.delegate(['daemon', 'stop'])) return;
      const layout = ctx.layout();
      const client = new ApiClient(layout.socketPath);
      const ping = await tryPing(client);
      if (!ping) {
        if (ctx.globals.json) printJson(ctx.io, { running: false });
        else ctx.io.stdout.write('bangerd is not running\n');
        return;
      }
      await client.call(ROUTES.shutdown, {});
      if (!(await waitGone(client)) || !(await waitExit(ping.pid))) {
        throw new BangerError('operation_failed', `bangerd (pid ${ping.pid}) did not stop within 10s`, { hint: `kill ${ping.pid}` });
      }
      if (ctx.globals.json) printJson(ctx.io, { running: false, stoppedPid: ping.pid });
      else ctx.io.stdout.write(`bangerd stopped (pid ${ping.pid})\n`);
    });

  daemon
    .command('status')
    .description('Show whether bangerd runs, with pid, socket, log path, uptime and version')
    .action(async () => {
      if (await ctx.delegate(['daemon', 'status'])) return;
      const layout = ctx.layout();
      const ping: PingResult | undefined = await tryPing(new ApiClient(layout.socketPath));
      const hv = ping ? await tryHypervisorVerdict(new ApiClient(layout.socketPath)).catch(() => undefined) : undefined;
      if (ctx.globals.json) {
        printJson(ctx.io, ping ? { running: true, ...ping, sameBuildAsCli: sameBuild(ping, buildInfo()), ...(hv ? { hypervisor: hv } : {}) } : { running: false, socket: layout.socketPath, logPath: layout.daemonLog });
        return;
      }
      if (!ping) {
        ctx.io.stdout.write(`bangerd: not running\nsocket:  ${layout.socketPath}\nlog:     ${layout.daemonLog}\n`);
        return;
      }
      ctx.io.stdout.write(
        [
          `bangerd: running`,
          `pid:     ${ping.pid}`,
          `socket:  ${ping.socket}`,
          `log:     ${ping.logPath}`,
          `state:   ${ping.stateDir}`,
          `uptime:  ${uptime(ping.uptimeSeconds)}`,
          `dns:     ${ping.dnsAddr ? `${ping.dnsAddr} (udp, tcp)` : 'not listening (see banger dns status)'}`,
          ...(ping.guestDnsAddr ? [`guests:  dns on ${ping.guestDnsAddr} (udp, tcp; bridge mode)`] : []),
          ...(hv?.driver ? [`driver:  ${hv.driver}${hv.probed ? ` with ${hv.accel}` : ''}: ${hv.choice ?? ''}`] : []),
          `version: ${ping.version} (commit ${ping.commit.slice(0, 12)}, built ${ping.builtAt})${sameBuild(ping, buildInfo()) ? '' : ' — differs from this CLI'}`,
        ].join('\n') + '\n',
      );
    });
}
