/** The HTTP application: the route table under /v1, one error envelope for everything, a body size limit. */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { BangerError, HTTP_STATUS, toBangerError, type ErrorEnvelope } from '../api/errors.js';
import { routesForPath } from '../api/routes.js';
import { API_PREFIX } from '../api/types.js';
import type { DaemonContext } from './context.js';
import { RouteKit } from './route-kit.js';
import { operationRoutes } from './routes/operations.js';
import { systemRoutes } from './routes/system.js';
import { vmRoutes } from './routes/vms.js';
import { sessionRoutes } from './routes/sessions.js';
import { imageRoutes } from './routes/images.js';
import { kernelRoutes } from './routes/kernels.js';
import { eventRoutes } from './routes/events.js';

/** The largest request body the daemon reads; every request body is a small JSON object. */
export const MAX_BODY_BYTES = 1024 * 1024;

const VERSION_HINT = 'the CLI and daemon versions may differ; run banger daemon stop and retry';

function envelope(c: Context, env: ErrorEnvelope, status: number, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(env), status as 400, { ...headers, 'Content-Type': 'application/json' });
}

export function createApp(ctx: DaemonContext): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    let be: BangerError;
    if (err instanceof BangerError) be = err;
    else if (err instanceof HTTPException && err.status < 500) be = new BangerError('bad_request', err.message || 'bad request');
    else if (err instanceof SyntaxError) be = new BangerError('bad_request', `request body is not valid JSON: ${err.message}`);
    else be = toBangerError(err);
    if (be.code === 'internal') ctx.logger.error('request failed', { path: c.req.path, error: err });
    else if (be.code === 'operation_failed') ctx.logger.warn('request failed', { path: c.req.path, error: be.message, cause: be.cause });
    return envelope(c, be.toEnvelope(), HTTP_STATUS[be.code]);
  });
  app.notFound((c) => {
    const path = c.req.path.startsWith(API_PREFIX + '/') ? c.req.path.slice(API_PREFIX.length) : undefined;
    const allowed = path === undefined ? [] : [...new Set(routesForPath(path).map((r) => r.method))];
    if (allowed.length > 0) {
      const be = new BangerError('bad_request', `${c.req.method} is not allowed on ${c.req.path}; it takes ${allowed.join(', ')}`, { hint: VERSION_HINT });
      return envelope(c, be.toEnvelope(), 405, { Allow: allowed.join(', ') });
    }
    return envelope(c, new BangerError('not_found', `no API route ${c.req.method} ${c.req.path}`, { hint: VERSION_HINT }).toEnvelope(), 404);
  });
  const v1 = new Hono();
  v1.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => envelope(c, new BangerError('bad_request', `request body is larger than ${MAX_BODY_BYTES / 1024} KiB`).toEnvelope(), 413),
    }),
  );
  const kit = new RouteKit(v1, ctx);
  systemRoutes(kit, ctx);
  operationRoutes(kit, ctx);
  vmRoutes(kit, ctx);
  sessionRoutes(kit, ctx);
  imageRoutes(kit, ctx);
  kernelRoutes(kit, ctx);
  eventRoutes(kit, ctx);
  app.route(API_PREFIX, v1);
  return app;
}
