/** /v1/vms/:name/sessions: long-running guest commands, their output and their input (over the VM's SSH connection). */
import { stream } from 'hono/streaming';
import { ROUTES } from '../../api/routes.js';
import { parseSessionLogsQuery, SESSION_OFFSET_HEADER } from '../../api/sessions.js';
import type { DaemonContext } from '../context.js';
import { keepOpen } from '../http-util.js';
import type { RouteKit } from '../route-kit.js';

export function sessionRoutes(kit: RouteKit, ctx: DaemonContext): void {
  const sessions = () => ctx.services.sessions;

  kit.sync(ROUTES.vmSessionList, ({ params }) => sessions().list(params.name));
  kit.operation(ROUTES.vmSessionStart, ({ params: { name }, body }) => {
    sessions().precheck(name, body);
    return { target: name, run: (oc) => oc.stage('session', `starting a session in ${name}`, () => sessions().start(name, body)) };
  });
  kit.sync(ROUTES.vmSessionShow, ({ params }) => sessions().show(params.name, params.session));
  kit.stream(ROUTES.vmSessionLogs, async ({ params, c }) => {
    const q = parseSessionLogsQuery(c.req.query());
    const out = await sessions().output(params.name, params.session, q);
    if (q.follow) keepOpen(c);
    c.header('Content-Type', 'text/plain; charset=utf-8');
    c.header('Cache-Control', 'no-store');
    c.header(SESSION_OFFSET_HEADER, String(out.offset));
    return stream(
      c,
      async (s) => {
        s.onAbort(() => out.stop());
        for await (const chunk of out.chunks) {
          if (s.aborted) break;
          await s.write(chunk);
        }
      },
      (err) => {
        out.stop();
        ctx.logger.debug('session output ended early', { vm: params.name, session: params.session, error: err.message });
        return Promise.resolve();
      },
    );
  });
  kit.sync(ROUTES.vmSessionSend, ({ params, body }) => sessions().send(params.name, params.session, body.data));
  kit.operation(ROUTES.vmSessionStop, ({ params: { name, session }, body }) => {
    sessions().precheckExisting(name, session);
    return { target: name, run: (oc) => oc.stage('stop', `stopping session ${session} in ${name}`, () => sessions().stop(name, session, body)) };
  });
  kit.operation(ROUTES.vmSessionKill, ({ params: { name, session }, body }) => {
    sessions().precheckExisting(name, session);
    return { target: name, run: (oc) => oc.stage('kill', `sending ${body.signal ?? 'SIGKILL'} to session ${session} in ${name}`, () => sessions().kill(name, session, body)) };
  });
  kit.sync(ROUTES.vmSessionDelete, ({ params }) => sessions().remove(params.name, params.session));
}
