/** Long operations: list, status, follow (NDJSON), cancel. */
import { stream } from 'hono/streaming';
import { notFound } from '../../api/errors.js';
import { ROUTES } from '../../api/routes.js';
import type { OpEvent } from '../../api/types.js';
import type { DaemonContext } from '../context.js';
import type { Operation } from '../operations.js';
import { keepOpen } from '../http-util.js';
import type { RouteKit } from '../route-kit.js';

export function operationRoutes(kit: RouteKit, ctx: DaemonContext): void {
  const find = (id: string): Operation => {
    const op = ctx.ops.get(id);
    if (!op) throw notFound(`no operation ${id}`, 'operations are kept for 15 minutes after they end');
    return op;
  };
  kit.sync(ROUTES.operationList, () => ctx.ops.list());
  kit.sync(ROUTES.operationShow, ({ params }) => find(params.id).summary());
  kit.sync(ROUTES.operationCancel, ({ params }) => {
    const op = find(params.id);
    return { cancelled: op.cancel(), state: op.state };
  });
  kit.stream(ROUTES.operationEvents, ({ params, c }) => {
    const op = find(params.id);
    keepOpen(c);
    c.header('Content-Type', 'application/x-ndjson');
    return stream(c, async (s) => {
      const queue: OpEvent[] = [...op.events];
      let wake: (() => void) | undefined;
      const unsubscribe = op.state === 'running' ? op.subscribe((ev) => {
        queue.push(ev);
        wake?.();
      }) : () => undefined;
      let aborted = false;
      s.onAbort(() => {
        aborted = true;
        wake?.();
      });
      try {
        for (;;) {
          while (queue.length > 0) {
            const ev = queue.shift()!;
            await s.write(JSON.stringify(ev) + '\n');
            if (ev.type === 'done' || ev.type === 'error') return;
          }
          if (aborted || op.state !== 'running') {
            if (queue.length === 0) return;
            continue;
          }
          await new Promise<void>((res) => (wake = res));
          wake = undefined;
        }
      } finally {
        unsubscribe();
      }
    });
  });
}
