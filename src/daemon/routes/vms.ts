/** /v1/vms: lifecycle, logs, stats, ssh targets. */
import { stream } from 'hono/streaming';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { ROUTES } from '../../api/routes.js';
import type { DaemonContext } from '../context.js';
import { flagQuery, keepOpen } from '../http-util.js';
import type { RouteKit } from '../route-kit.js';

export function vmRoutes(kit: RouteKit, ctx: DaemonContext): void {
  const vms = () => ctx.services.vms;

  kit.sync(ROUTES.vmList, () => vms().list());
  kit.operation(ROUTES.vmCreate, ({ body }) => {
    vms().precheck(body);
    return { target: body.name, run: (oc) => vms().create(body, oc) };
  });
  kit.operation(ROUTES.vmPrune, () => ({ run: (oc) => oc.stage('prune', 'deleting VMs that are not running', () => vms().prune()) }));
  kit.sync(ROUTES.vmShow, ({ params }) => vms().show(params.name));
  kit.operation(ROUTES.vmSet, ({ params: { name }, body }) => {
    vms().show(name);
    return { target: name, run: (oc) => oc.stage('set', `changing ${name}`, () => vms().set(name, body)) };
  });
  kit.operation(ROUTES.vmDelete, ({ params: { name } }) => {
    vms().show(name);
    return { target: name, run: (oc) => oc.stage('delete', `deleting ${name}`, () => vms().delete(name)) };
  });
  kit.operation(ROUTES.vmStart, ({ params: { name } }) => {
    vms().show(name);
    return { target: name, run: (oc) => vms().start(name, oc) };
  });
  kit.operation(ROUTES.vmRestart, ({ params: { name } }) => {
    vms().show(name);
    return { target: name, run: (oc) => vms().restart(name, oc) };
  });
  kit.operation(ROUTES.vmStop, ({ params: { name }, body }) => {
    vms().show(name);
    const opts = body.timeoutSeconds !== undefined ? { timeoutMs: body.timeoutSeconds * 1000 } : {};
    return { target: name, run: (oc) => oc.stage('stop', `stopping ${name}`, () => vms().stop(name, opts)) };
  });
  kit.operation(ROUTES.vmKill, ({ params: { name }, body }) => {
    vms().show(name);
    const signal = body.signal ?? 'SIGKILL';
    return { target: name, run: (oc) => oc.stage('kill', `sending ${signal} to ${name}`, () => vms().kill(name, signal)) };
  });
  kit.operation(ROUTES.vmPause, ({ params: { name } }) => {
    vms().show(name);
    return { target: name, run: (oc) => oc.stage('pause', `pausing ${name}`, () => vms().pause(name)) };
  });
  kit.operation(ROUTES.vmResume, ({ params: { name } }) => {
    vms().show(name);
    return { target: name, run: (oc) => oc.stage('resume', `resuming ${name}`, () => vms().resume(name)) };
  });
  kit.operation(ROUTES.vmSuspend, ({ params: { name } }) => {
    vms().show(name);
    return { target: name, run: (oc) => vms().suspend(name, oc) };
  });
  kit.operation(ROUTES.vmSnapshotCreate, ({ params: { name }, body }) => {
    vms().precheckSnapshot(name, body);
    return { target: name, run: (oc) => vms().snapshotCreate(name, body, oc) };
  });
  kit.operation(ROUTES.vmFork, ({ params: { name }, body }) => {
    vms().checkFork(name, body);
    return { target: name, run: (oc) => vms().fork(name, body, oc) };
  });
  kit.sync(ROUTES.snapshotList, () => vms().snapshotList());
  kit.sync(ROUTES.snapshotShow, ({ params }) => vms().snapshotShow(params.name));
  kit.sync(ROUTES.snapshotDelete, ({ params }) => vms().snapshotDelete(params.name));
  kit.sync(ROUTES.poolList, () => vms().poolList());
  kit.sync(ROUTES.poolClear, () => vms().poolClear());
  kit.sync(ROUTES.vmSSH, ({ params }) => vms().sshTarget(params.name));
  kit.sync(ROUTES.vmWorkspaceRecord, ({ params, body }) => vms().recordWorkspace(params.name, body));
  kit.sync(ROUTES.vmWorkspaceDiff, ({ params, c }) => vms().workspaceDiff(params.name, { patch: flagQuery(c.req.query('patch'), 'patch') }));
  kit.sync(ROUTES.vmStats, ({ params }) => vms().stats(params.name));
  kit.sync(ROUTES.vmHealth, ({ params }) => vms().health(params.name));
  kit.sync(ROUTES.vmPorts, ({ params }) => vms().ports(params.name));
  kit.sync(ROUTES.vmForward, ({ params, body }) => vms().forward(params.name, body));
  kit.sync(ROUTES.vmEgress, ({ params }) => vms().egress(params.name));
  kit.stream(ROUTES.vmLogs, ({ params, c }) => {
    const log = vms().consoleLog(params.name);
    const follow = c.req.query('follow') === '1' || c.req.query('follow') === 'true';
    keepOpen(c);
    c.header('Content-Type', 'text/plain; charset=utf-8');
    return stream(c, async (s) => {
      let aborted = false;
      s.onAbort(() => {
        aborted = true;
      });
      let offset = 0;
      const pump = async () => {
        if (!existsSync(log.path)) return;
        const size = statSync(log.path).size;
        if (size < offset) offset = 0;
        if (size === offset) return;
        for await (const chunk of createReadStream(log.path, { start: offset, end: size - 1 })) {
          await s.write(chunk as Uint8Array);
        }
        offset = size;
      };
      await pump();
      while (follow && !aborted) {
        await new Promise((res) => setTimeout(res, 300));
        await pump();
        if (!vms().isActive(log.id)) {
          await pump();
          break;
        }
      }
    });
  });
}
