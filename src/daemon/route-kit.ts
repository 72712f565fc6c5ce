/** Registers the route table's entries on the HTTP app: bodies parsed by the route's parser, results typed by it. */
import type { Context, Hono } from 'hono';
import type { OperationRoute, PathParams, Route, RouteKind, StreamRoute, SyncRoute } from '../api/routes.js';
import type { OperationStarted } from '../api/types.js';
import type { OpContext } from '../services/op-context.js';
import type { DaemonContext } from './context.js';
import { jsonBody } from './http-util.js';

export interface RouteRequest<P extends string, Req> {
  params: PathParams<P>;
  body: Req;
  c: Context;
}

/** What an operation handler returns: the target it names, and the work. */
export interface OperationWork<Res> {
  target?: string;
  run: (oc: OpContext) => Promise<Res>;
}

async function readRequest<P extends string, Req>(c: Context, route: Pick<Route<RouteKind, P, Req>, 'method' | 'parse'>): Promise<RouteRequest<P, Req>> {
  const body = route.method === 'GET' ? undefined : await jsonBody(c);
  return { params: c.req.param() as unknown as PathParams<P>, body: route.parse(body), c };
}

function json(c: Context, value: unknown, status: number): Response {
  return c.body(JSON.stringify(value), status as 200, { 'Content-Type': 'application/json' });
}

export class RouteKit {
  constructor(
    private readonly app: Hono,
    private readonly ctx: DaemonContext,
  ) {}

  sync<P extends string, Req, Res>(route: SyncRoute<P, Req, Res>, fn: (req: RouteRequest<P, Req>) => Res | Promise<Res>): void {
    this.app.on(route.method, route.path, async (c) => json(c, await fn(await readRequest(c, route)), route.status ?? 200));
  }

  /** Answers 202 {opId} once the handler's checks pass; the work runs as an operation of the route's id. */
  operation<P extends string, Req, Res>(route: OperationRoute<P, Req, Res>, fn: (req: RouteRequest<P, Req>) => OperationWork<Res> | Promise<OperationWork<Res>>): void {
    this.app.on(route.method, route.path, async (c) => {
      const work = await fn(await readRequest(c, route));
      const op = this.ctx.ops.begin(route.id, work.target, work.run, { cancellable: route.cancellable ?? false });
      return json(c, { opId: op.id } satisfies OperationStarted, 202);
    });
  }

  stream<P extends string>(route: StreamRoute<P>, fn: (req: { params: PathParams<P>; c: Context }) => Response | Promise<Response>): void {
    this.app.on(route.method, route.path, (c) => fn({ params: c.req.param() as unknown as PathParams<P>, c }));
  }
}
