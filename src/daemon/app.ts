/** The HTTP application: one error envelope, versioned routes. */
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { BangerError, HTTP_STATUS, toBangerError } from '../api/errors.js';
import { API_PREFIX } from '../api/types.js';
import type { DaemonContext } from './context.js';
import { operationRoutes } from './routes/operations.js';
import { systemRoutes } from './routes/system.js';
import { vmRoutes } from './routes/vms.js';
import { imageRoutes } from './routes/images.js';
import { kernelRoutes } from './routes/kernels.js';

export function createApp(ctx: DaemonContext): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    let be: BangerError;
    if (err instanceof BangerError) be = err;
    else if (err instanceof HTTPException && err.status < 500) be = new BangerError('bad_request', err.message || 'bad request');
    else if (err instanceof SyntaxError) be = new BangerError('bad_request', `request body is not valid JSON: ${err.message}`);
    else be = toBangerError(err);
    if (be.code === 'internal') ctx.logger.error('request failed', { path: c.req.path, error: err });
    return c.json(be.toEnvelope(), HTTP_STATUS[be.code] as 400);
  });
  app.notFound((c) =>
    c.json(new BangerError('not_found', `no API route ${c.req.method} ${c.req.path}`, { hint: 'the CLI and daemon versions may differ; run banger daemon stop and retry' }).toEnvelope(), 404),
  );
  const v1 = new Hono();
  v1.route('/', systemRoutes(ctx));
  v1.route('/operations', operationRoutes(ctx));
  v1.route('/vms', vmRoutes(ctx));
  v1.route('/images', imageRoutes(ctx));
  v1.route('/kernels', kernelRoutes(ctx));
  app.route(API_PREFIX, v1);
  return app;
}
