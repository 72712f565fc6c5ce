/** /v1/vms/:name/sessions: long-running guest commands (output, input and attach go over SSH, client-side). */
import { ROUTES } from '../../api/routes.js';
import type { DaemonContext } from '../context.js';
import type { RouteKit } from '../route-kit.js';

export function sessionRoutes(kit: RouteKit, ctx: DaemonContext): void {
  const sessions = () => ctx.services.sessions;

  kit.sync(ROUTES.vmSessionList, ({ params }) => sessions().list(params.name));
  kit.operation(ROUTES.vmSessionStart, ({ params: { name }, body }) => {
    sessions().precheck(name, body);
    return { target: name, run: (oc) => oc.stage('session', `starting a session in ${name}`, () => sessions().start(name, body)) };
  });
  kit.sync(ROUTES.vmSessionShow, ({ params }) => sessions().show(params.name, params.session));
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
